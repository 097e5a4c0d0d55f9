// seccomp_exec ALLOW_FILE PROGRAM [ARGS...]: runs PROGRAM under a seccomp filter that allows the
// system calls named in ALLOW_FILE (one per line) and answers EPERM to any other, as the unit's
// SystemCallFilter= with SystemCallErrorNumber=EPERM does. The package tests use it to run the
// broker under its unit's filter without systemd as PID 1.
#include <seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: seccomp_exec ALLOW_FILE PROGRAM [ARGS...]\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::fprintf(stderr, "seccomp_exec: cannot read %s\n", argv[1]);
    return 2;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!ctx) return 2;
  std::string name;
  int allowed = 0;
  while (std::getline(in, name)) {
    if (name.empty()) continue;
    const int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not a call on this architecture
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) == 0) ++allowed;
  }
  // NoNewPrivileges=yes, as in the unit; seccomp needs it without CAP_SYS_ADMIN anyway.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || seccomp_load(ctx) != 0) {
    std::fprintf(stderr, "seccomp_exec: cannot load the filter (%d calls)\n", allowed);
    return 2;
  }
  seccomp_release(ctx);
  execv(argv[2], argv + 2);
  std::fprintf(stderr, "seccomp_exec: %s: %s\n", argv[2], std::strerror(errno));
  return 127;
}
