#include <iostream>
int main() {
  std::cout << "mcp-auth-broker\n";
  return 0;
}
