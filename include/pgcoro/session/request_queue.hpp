// The requests of several coroutines on one session: those waiting for
// their turn, and those written whose answers are owed, in the order the
// server will answer them. Owned by the session; the requests themselves
// live in their coroutines' frames (shared_requests.hpp runs them).
//
// A shared request (query, execute) is one Bind/Execute/Sync segment: many
// are written together and answered in order, each with its own Sync, so
// one's error does not touch another. An exclusive operation (anything
// else) waits until no answer is owed and then has the session to itself;
// requests that come after it wait behind it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "exchange_step.hpp"
#include "../net/handler_memory.hpp"
#include "request_wait.hpp"

namespace pgcoro::detail {

class session;

// One coroutine's request, in its frame.
struct queued_request {
    explicit queued_request(session& s, bool wants_session_alone = false) noexcept
        : owner(&s), exclusive(wants_session_alone) {}
    queued_request(const queued_request&) = delete;
    queued_request& operator=(const queued_request&) = delete;

    session* owner;
    queued_request* next = nullptr;  // in the waiting list
    bool exclusive;
    // Feeds the buffered messages of its answer to the request's algorithm
    // (set for a shared request): what runner.hpp's consume() returns.
    next_step (*feed)(session&, queued_request&) = nullptr;
    std::exception_ptr failure;  // what its answer ended with, if not success
    request_wait wake;
};

// Told, on the session's home executor, that a shared session came to rest
// (session::at_rest): the pool, for a connection whose last request ended
// while an abandoned one's answer was still to be read. Until then only
// home may look at the session; after it, nothing of the session's runs
// until its next request, so the pool may hand it to another thread.
class rest_listener {
public:
    virtual void came_to_rest(session& s) noexcept = 0;

protected:
    ~rest_listener() = default;
};

class request_queue {
public:
    // --- limits (config::max_pipeline_depth, config::max_pipeline_bytes) ----------
    void set_limits(std::size_t depth, std::size_t bytes) noexcept {
        depth_ = depth == 0 ? 1 : depth;
        bytes_ = bytes;
    }
    std::size_t depth_limit() const noexcept { return depth_; }
    std::size_t bytes_limit() const noexcept { return bytes_; }

    // --- waiting for a turn, first come first served ------------------------------
    bool none_waiting() const noexcept { return head_ == nullptr; }
    queued_request* first_waiting() const noexcept { return head_; }
    void push_waiting(queued_request& r) noexcept {
        r.next = nullptr;
        if (tail_) tail_->next = &r;
        else head_ = &r;
        tail_ = &r;
        ++waiting_;
    }
    queued_request* pop_waiting() noexcept {
        auto* r = head_;
        if (!r) return nullptr;
        head_ = r->next;
        if (!head_) tail_ = nullptr;
        r->next = nullptr;
        --waiting_;
        return r;
    }
    // A waiting request gave up (cancelled).
    void remove_waiting(queued_request& r) noexcept {
        queued_request* before = nullptr;
        for (auto* p = head_; p; before = p, p = p->next) {
            if (p != &r) continue;
            (before ? before->next : head_) = p->next;
            if (tail_ == p) tail_ = before;
            p->next = nullptr;
            --waiting_;
            return;
        }
    }
    std::size_t waiting() const noexcept { return waiting_; }

    // --- admitted shared requests not yet written ---------------------------------
    std::size_t reserved = 0;

    // --- written, answers owed, in order ------------------------------------------
    // An entry is null once its coroutine gave up on it: the answer is then
    // read and discarded.
    std::size_t owed() const noexcept { return count_; }
    void push_written(queued_request& r) {
        if (ring_.empty()) ring_.resize(depth_);  // once: the depth is the most ever owed
        ring_[(first_ + count_) % ring_.size()] = &r;
        ++count_;
        ++stats.requests;
        if (count_ > stats.peak_owed) stats.peak_owed = count_;
    }
    queued_request* first_owed() const noexcept { return ring_[first_]; }
    void pop_owed() noexcept {
        ring_[first_] = nullptr;
        first_ = (first_ + 1) % ring_.size();
        --count_;
    }
    // The request's coroutine gave up on its answer.
    void abandon(queued_request& r) noexcept {
        for (std::size_t i = 0; i < count_; ++i) {
            auto& entry = ring_[(first_ + i) % ring_.size()];
            if (entry == &r) {
                entry = nullptr;
                ++stats.dropped_answers;
                return;
            }
        }
    }
    // Requests written whose coroutines still wait for their answers.
    template <class F>
    void for_each_owed(F&& f) const {
        for (std::size_t i = 0; i < count_; ++i)
            if (auto* r = ring_[(first_ + i) % ring_.size()]) f(*r);
    }
    // What the sharing did, since the session opened (connection::pipelining()).
    struct counters {
        std::uint64_t requests = 0;         // shared requests written
        std::uint64_t writes = 0;           // writes that sent them
        std::uint64_t dropped_answers = 0;  // of requests whose coroutines gave up
        std::size_t peak_owed = 0;          // most answers owed at once
    } stats;

    // A shared request's turn: not while an operation has the session,
    // and within the bounds.
    bool room_for_shared(std::size_t unsent_bytes) const noexcept {
        return count_ + reserved < depth_ && unsent_bytes < bytes_;
    }
    // An exclusive operation's turn: no shared request owed, admitted or
    // being sent. (Bytes an abandoned stream or COPY left unsent are the
    // next operation's to finish: see tidy_session.)
    bool quiet() const noexcept { return count_ == 0 && reserved == 0 && !writing; }

    // --- the reader and the writer of shared requests (shared_requests.hpp) --------
    // Completion handlers, not coroutines: a coroutine's frames would churn
    // Asio's per-thread frame cache, which the requests' own frames need.
    bool pipelining = false;    // the session has had requests at once
    std::size_t staged = 0;     // requests written to the buffer, not yet taken by the writer
    // Whether the writer should send what is staged now. While the server
    // has enough requests of ours to work on, it waits for more to send
    // together: each write it saves is a system call on both sides.
    bool time_to_send() const noexcept {
        static constexpr std::size_t server_has_enough = 8, enough_to_send = 16;
        return staged > 0 && (staged >= enough_to_send || count_ - staged < server_has_enough);
    }
    bool reading = false;       // answers are being read (a read in flight, or taken now)
    bool writing = false;       // the writer has bytes in flight
    bool flush_posted = false;  // the writer runs soon
    asio::any_io_executor home;  // where they run: the first shared request's executor
    std::weak_ptr<rest_listener> on_rest;  // told once, when the session next comes to rest
    handler_memory<1, 128> flush_memory;  // for posting the writer

private:
    queued_request* head_ = nullptr;
    queued_request* tail_ = nullptr;
    std::size_t waiting_ = 0;
    std::vector<queued_request*> ring_;
    std::size_t first_ = 0;
    std::size_t count_ = 0;
    std::size_t depth_ = 256;
    std::size_t bytes_ = std::size_t{1} << 20;
};

}  // namespace pgcoro::detail
