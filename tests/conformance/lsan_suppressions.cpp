// LeakSanitizer suppressions for the conformance binary (read only in sanitizer builds).
//
// libpqxx 6.4 leaks the PGresult of a PQprepare that fails on a connection the server has just
// dropped (connection_base::register_prepared throws without clearing it). The store replaces such
// connections, so the leak is one small block per lost connection, inside the library.

extern "C" const char* __lsan_default_suppressions() {
  return "leak:pqxx::connection_base::register_prepared\n";
}
