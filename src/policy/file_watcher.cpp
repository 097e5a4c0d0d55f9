#include "broker/policy/file_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "broker/core/crypto.h"
#include "broker/core/log.h"

namespace broker::policy {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The directory is watched for everything but IN_MODIFY: that one fires on every write to any
// file there (a log or a database beside the policy would wake the thread once per write), so it
// is asked of the policy file alone, on a second watch that follows the file to each new inode.
constexpr uint32_t kDirEvents = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
constexpr uint32_t kFileEvents = IN_MODIFY;

// The file's content hash, or nullopt when it cannot be read (deleted in the middle of a
// rename-replace, for example).
std::optional<std::string> contentHash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return sha256Hex(text.str());
}

class InotifyWatcher final : public FileWatcher {
 public:
  InotifyWatcher(std::string path, std::string name, int inotify_fd, int stop_fd,
                 std::function<void()> on_change, Options options)
      : path_(std::move(path)),
        name_(std::move(name)),
        inotify_fd_(inotify_fd),
        stop_fd_(stop_fd),
        on_change_(std::move(on_change)),
        options_(options),
        last_hash_(contentHash(path_)) {
    watchFile();
    thread_ = std::thread([this] { run(); });
  }

  ~InotifyWatcher() override {
    uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof one) < 0) {
      // Nothing else can wake the thread; it would block forever in poll.
      std::terminate();
    }
    thread_.join();
    close(inotify_fd_);
    close(stop_fd_);
  }

 private:
  void run() {
    bool pending = false;     // an event that counts arrived since the last check
    bool write_open = false;  // the file was modified and that write has not been closed yet
    Clock::time_point last_event{}, first_event{};
    alignas(inotify_event) char buffer[8192];
    // Answers once the events that count have been quiet; an open write (IN_MODIFY without
    // IN_CLOSE_WRITE) holds the answer back for up to max_wait.
    for (;;) {
      int timeout = -1;
      if (pending) {
        auto quiet = Clock::now() - last_event;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(options_.settle - quiet);
        // Quiet long enough but a write still open: look again after another settle period.
        timeout = static_cast<int>(left.count() > 0 ? left.count() : options_.settle.count());
      }
      pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      int n = poll(fds, 2, timeout);
      if (n < 0 && errno != EINTR) {
        log::error("policy_watch_failed", {{"error", std::strerror(errno)}});
        return;
      }
      if (fds[1].revents & POLLIN) return;
      if (n > 0 && (fds[0].revents & POLLIN)) {
        ssize_t len = read(inotify_fd_, buffer, sizeof buffer);
        for (ssize_t at = 0; at < len;) {
          const auto* ev = reinterpret_cast<const inotify_event*>(buffer + at);
          at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
          const bool file_event = ev->len == 0 && ev->wd == file_wd_;
          const bool ours =
              file_event ? !(ev->mask & IN_IGNORED) : (ev->len > 0 && name_ == ev->name);
          // A new inode under the name (created, or renamed into place): follow it.
          if (!file_event && ours && (ev->mask & (IN_CREATE | IN_MOVED_TO))) watchFile();
          // Other files in the directory (a database next to the policy, an editor's swap and
          // temp files) neither trigger a check nor hold one back. Kubernetes' atomic writer
          // swaps the "..data" symlink that the file points through.
          const bool k8s = ev->len > 0 && std::strncmp(ev->name, "..", 2) == 0;
          // A queue overflow lost events, possibly ours: check.
          if (!ours && !k8s && !(ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW))) {
            continue;
          }
          if (ours && (ev->mask & (IN_MODIFY | IN_CREATE))) write_open = true;
          if (ours && (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM))) {
            write_open = false;
          }
          if (!pending) first_event = Clock::now();
          pending = true;
          last_event = Clock::now();
        }
        // No `continue` here: unrelated events can arrive without pause (a database in the same
        // directory), so poll might never time out; the quiet check below runs either way.
      }
      if (!pending) continue;
      const auto quiet = Clock::now() - last_event;
      const bool waited_long = Clock::now() - first_event >= options_.max_wait;
      if (quiet < options_.settle || (write_open && !waited_long)) continue;
      pending = false;
      write_open = false;
      auto hash = contentHash(path_);
      if (!hash || hash == last_hash_) continue;
      last_hash_ = hash;
      log::info("policy_file_changed", {{"file", path_}});
      on_change_();
    }
  }

  void watchFile() { file_wd_ = inotify_add_watch(inotify_fd_, path_.c_str(), kFileEvents); }

  std::string path_;
  std::string name_;
  int inotify_fd_;
  int file_wd_ = -1;  // the policy file's own watch (IN_MODIFY); -1 while it does not exist
  int stop_fd_;
  std::function<void()> on_change_;
  Options options_;
  std::optional<std::string> last_hash_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<FileWatcher> FileWatcher::start(const std::string& path,
                                                std::function<void()> on_change, Options options) {
  fs::path file = fs::absolute(path).lexically_normal();
  std::string dir = file.parent_path().string();
  int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (ifd < 0) {
    log::warn("policy_watch_unavailable", {{"file", path}, {"error", std::strerror(errno)}});
    return nullptr;
  }
  if (inotify_add_watch(ifd, dir.c_str(), kDirEvents) < 0) {
    log::warn("policy_watch_unavailable",
              {{"file", path}, {"dir", dir}, {"error", std::strerror(errno)}});
    close(ifd);
    return nullptr;
  }
  int sfd = eventfd(0, EFD_CLOEXEC);
  if (sfd < 0) {
    log::warn("policy_watch_unavailable", {{"file", path}, {"error", std::strerror(errno)}});
    close(ifd);
    return nullptr;
  }
  log::info("policy_watch_started", {{"file", path}, {"dir", dir}});
  return std::make_unique<InotifyWatcher>(file.string(), file.filename().string(), ifd, sfd,
                                          std::move(on_change), options);
}

}  // namespace broker::policy
