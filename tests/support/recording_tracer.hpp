// A tracer that keeps a copy of every event it is told of, for tests to
// inspect. Start callbacks return 1, 2, 3, ... so a test can pair each end
// with its start.
#pragma once

#include <pgcoro.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace test {

// An event's trace_outcome with its views copied.
struct recorded_outcome {
    std::chrono::nanoseconds duration{0};
    std::error_code error;
    std::string message;
    std::string sqlstate;

    explicit recorded_outcome(const pgcoro::trace_outcome& o)
        : duration(o.duration), error(o.error), message(o.message), sqlstate(o.sqlstate()) {}
};

struct recorded_session {
    std::string host;
    std::uint16_t port = 0;
    std::string database;
    std::string user;
    std::int32_t backend_pid = 0;

    explicit recorded_session(const pgcoro::traced_session& s)
        : host(s.host), port(s.port), database(s.database), user(s.user), backend_pid(s.backend_pid) {}
};

struct recorded_query {
    pgcoro::trace_token token;
    recorded_session session;
    std::string sql;
    std::string prepared_name;
    std::size_t parameters;
    pgcoro::query_protocol protocol;
    std::optional<recorded_outcome> outcome;  // set at the end
    std::uint64_t rows = 0;
};

struct recorded_pipeline {
    pgcoro::trace_token token;
    std::size_t statements;
    std::optional<recorded_outcome> outcome;
    std::size_t failed = 0;
    std::size_t aborted = 0;
    std::string first_statement_sqlstate;
};

struct recorded_copy {
    pgcoro::trace_token token;
    std::string sql;
    pgcoro::copy_direction direction;
    std::optional<recorded_outcome> outcome;
    std::uint64_t rows = 0;
};

struct recorded_connect {
    pgcoro::trace_token token;
    std::optional<recorded_outcome> outcome;
    std::int32_t backend_pid = 0;
};

struct recorded_acquire {
    pgcoro::trace_token token;
    std::optional<recorded_outcome> outcome;
    std::int32_t backend_pid = 0;
    std::uint64_t generation = 0;
};

class recording_tracer final : public pgcoro::tracer {
public:
    std::vector<recorded_query> queries;
    std::vector<recorded_pipeline> pipelines;
    std::vector<recorded_copy> copies;
    std::vector<recorded_connect> connects;
    std::vector<recorded_acquire> acquires;
    int mismatched_tokens = 0;  // end events whose token matches no open start

    pgcoro::trace_token query_started(const pgcoro::query_start& e) override {
        queries.push_back({next(), recorded_session(e.session), std::string(e.sql), std::string(e.prepared_name), e.parameters,
                           e.protocol, std::nullopt, 0});
        return queries.back().token;
    }
    void query_ended(const pgcoro::query_end& e) override {
        if (auto* q = open(queries, e.token)) {
            q->outcome.emplace(e.outcome);
            q->rows = e.rows;
            mismatched_tokens += q->sql != e.sql || q->parameters != e.parameters;
        }
    }
    pgcoro::trace_token pipeline_started(const pgcoro::pipeline_start& e) override {
        pipelines.push_back({next(), e.statements, std::nullopt, 0, 0, {}});
        return pipelines.back().token;
    }
    void pipeline_ended(const pgcoro::pipeline_end& e) override {
        if (auto* p = open(pipelines, e.token)) {
            p->outcome.emplace(e.outcome);
            p->failed = e.failed;
            p->aborted = e.aborted;
            if (e.first_statement_error) p->first_statement_sqlstate = e.first_statement_error->sqlstate;
        }
    }
    pgcoro::trace_token copy_started(const pgcoro::copy_start& e) override {
        copies.push_back({next(), std::string(e.sql), e.direction, std::nullopt, 0});
        return copies.back().token;
    }
    void copy_ended(const pgcoro::copy_end& e) override {
        if (auto* c = open(copies, e.token)) {
            c->outcome.emplace(e.outcome);
            c->rows = e.rows;
            mismatched_tokens += c->direction != e.direction;
        }
    }
    pgcoro::trace_token connect_started(const pgcoro::connect_start&) override {
        connects.push_back({next(), std::nullopt, 0});
        return connects.back().token;
    }
    void connect_ended(const pgcoro::connect_end& e) override {
        if (auto* c = open(connects, e.token)) {
            c->outcome.emplace(e.outcome);
            c->backend_pid = e.session.backend_pid;
        }
    }
    pgcoro::trace_token acquire_started(const pgcoro::acquire_start&) override {
        acquires.push_back({next(), std::nullopt, 0, 0});
        return acquires.back().token;
    }
    void acquire_ended(const pgcoro::acquire_end& e) override {
        if (auto* a = open(acquires, e.token)) {
            a->outcome.emplace(e.outcome);
            a->backend_pid = e.session.backend_pid;
            a->generation = e.generation;
        }
    }

private:
    pgcoro::trace_token next() { return ++last_token_; }

    // The started, not yet ended event with this token.
    template <class Event>
    Event* open(std::vector<Event>& events, pgcoro::trace_token token) {
        for (auto& e : events)
            if (e.token == token && !e.outcome) return &e;
        ++mismatched_tokens;
        return nullptr;
    }

    pgcoro::trace_token last_token_ = 0;
};

}  // namespace test
