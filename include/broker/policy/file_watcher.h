#pragma once
// Watches one file (the policy) and calls back when its content has changed, so an edit takes
// effect without a SIGHUP.
//
// The watch is on the file's directory, not the file: editors and config management replace a
// file by renaming a new one over it (the old inode, which a watch on the file would follow,
// never changes), and Kubernetes swaps a "..data" symlink to a new directory. Only events for
// the file's name (and Kubernetes' "..*" names) count; the watcher calls back once they have
// been quiet for `settle`, no write to the file is still open (bounded by `max_wait`), and the
// content differs from the content it saw last, so other files in the directory, repeated events
// and saves without a change cost nothing, and a half-written file is not read.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace broker::policy {

class FileWatcher {
 public:
  struct Options {
    std::chrono::milliseconds settle{100};
    std::chrono::milliseconds max_wait{2000};  // longest wait for an open write to close
  };

  // Starts the watcher thread. Returns nullptr (after logging why) when the directory cannot be
  // watched; the broker then still reloads on SIGHUP. `on_change` runs on the watcher thread.
  static std::unique_ptr<FileWatcher> start(const std::string& path,
                                            std::function<void()> on_change, Options options);
  static std::unique_ptr<FileWatcher> start(const std::string& path,
                                            std::function<void()> on_change) {
    return start(path, std::move(on_change), Options{});
  }

  virtual ~FileWatcher() = default;  // stops and joins the thread
};

}  // namespace broker::policy
