// A program run by a test: started with fork/exec, its stdout and stderr
// read through pipes, signalled, and waited for with a time limit.
//
//   test::child_process p(path, {"--port", "0", conninfo});
//   auto line = p.wait_for_line("listening on", 10s);   // std::nullopt on timeout or exit
//   p.signal(SIGTERM);
//   auto status = p.wait(10s);                           // exit code, 128 + signal, or nullopt
//
// Output is collected whenever the test reads or waits, so a chatty child
// never blocks on a full pipe while the test is reading its lines; all of
// it stays available (stdout_text(), stderr_text()) for failure messages.
// The destructor kills (SIGKILL) and reaps a child still running.
#pragma once

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace test {

class child_process {
public:
    using clock = std::chrono::steady_clock;

    child_process(const std::string& path, const std::vector<std::string>& args) {
        int out[2], err[2];
        if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        if (::pipe2(err, O_CLOEXEC) != 0) {
            ::close(out[0]);
            ::close(out[1]);
            throw std::runtime_error("pipe2 failed");
        }
        // argv before fork: the child may only make async-signal-safe calls.
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(path.c_str()));
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::dup2(out[1], STDOUT_FILENO);
            ::dup2(err[1], STDERR_FILENO);
            ::execv(path.c_str(), argv.data());
            constexpr char msg[] = "child_process: execv failed\n";
            (void)!::write(STDERR_FILENO, msg, sizeof msg - 1);
            ::_exit(127);
        }
        ::close(out[1]);
        ::close(err[1]);
        out_fd_ = out[0];
        err_fd_ = err[0];
        ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
        ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
        path_ = path;
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process() {
        if (running()) {
            ::kill(pid_, SIGKILL);
            int st = 0;
            ::waitpid(pid_, &st, 0);
        }
        if (out_fd_ >= 0) ::close(out_fd_);
        if (err_fd_ >= 0) ::close(err_fd_);
    }

    pid_t pid() const noexcept { return pid_; }
    bool running() const noexcept { return !status_; }
    void signal(int sig) const {
        if (!status_) ::kill(pid_, sig);
    }

    // The next line of stdout (without its newline), waiting up to `limit`;
    // std::nullopt if none came in time or the output ended.
    std::optional<std::string> read_line(std::chrono::milliseconds limit) {
        const auto until = clock::now() + limit;
        for (;;) {
            if (auto nl = stdout_.find('\n', line_start_); nl != std::string::npos) {
                std::string line = stdout_.substr(line_start_, nl - line_start_);
                line_start_ = nl + 1;
                return line;
            }
            if (out_fd_ < 0 || !pump(until)) return std::nullopt;
        }
    }

    // Reads lines until one contains `text`, for up to `limit`; the lines
    // before it are consumed.
    std::optional<std::string> wait_for_line(std::string_view text, std::chrono::milliseconds limit) {
        const auto until = clock::now() + limit;
        while (auto line = read_line(remaining(until))) {
            if (line->find(text) != std::string::npos) return line;
        }
        return std::nullopt;
    }

    // Waits up to `limit` for the child to exit, reading its output meanwhile;
    // its exit code, 128 + the signal that killed it, or std::nullopt.
    std::optional<int> wait(std::chrono::milliseconds limit) {
        const auto until = clock::now() + limit;
        while (!status_) {
            reap();
            if (status_) break;
            if (clock::now() >= until) return std::nullopt;
            // Pipes at EOF leave nothing to wait on: sleep a little instead.
            if (out_fd_ < 0 && err_fd_ < 0) {
                ::usleep(10'000);
            } else {
                pump(std::min(until, clock::now() + std::chrono::milliseconds(50)));
            }
        }
        // Whatever the child wrote before exiting is still in the pipes.
        while ((out_fd_ >= 0 || err_fd_ >= 0) && pump(clock::now() + std::chrono::milliseconds(200))) {
        }
        return status_;
    }

    // Everything read so far, for failure messages.
    const std::string& stdout_text() const noexcept { return stdout_; }
    const std::string& stderr_text() const noexcept { return stderr_; }
    std::string describe() const {
        return path_ + "\n--- stdout:\n" + stdout_ + "--- stderr:\n" + stderr_;
    }

private:
    static std::chrono::milliseconds remaining(clock::time_point until) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
        return left.count() > 0 ? left : std::chrono::milliseconds(0);
    }

    void reap() {
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
    }

    // Reads what is available on either pipe, waiting until `until` for
    // something; false when nothing arrived (timeout or both pipes closed).
    bool pump(clock::time_point until) {
        pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
        if (out_fd_ < 0 && err_fd_ < 0) return false;
        const int n = ::poll(fds, 2, static_cast<int>(remaining(until).count()));
        if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        if (n <= 0) return false;
        drain(out_fd_, stdout_, fds[0].revents);
        drain(err_fd_, stderr_, fds[1].revents);
        return true;
    }

    static void drain(int& fd, std::string& into, short revents) {
        if (fd < 0 || revents == 0) return;
        char buf[4096];
        for (;;) {
            const ssize_t got = ::read(fd, buf, sizeof buf);
            if (got > 0) {
                into.append(buf, static_cast<std::size_t>(got));
                continue;
            }
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
            ::close(fd);  // EOF or error: the child closed its end
            fd = -1;
            return;
        }
    }

    std::string path_;
    pid_t pid_ = -1;
    int out_fd_ = -1;
    int err_fd_ = -1;
    std::string stdout_, stderr_;
    std::size_t line_start_ = 0;
    std::optional<int> status_;
};

}  // namespace test
