// The text form of arrays as array_out prints it: "{1,2,NULL}",
// "{{1,2},{3,4}}", "{"a b","q\"x"}", "{}", and "[0:1]={1,2}" when a lower
// bound is not 1. Elements are quoted when empty, "NULL", or holding
// whitespace, quotes, backslashes, braces or the delimiter.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "codec_errors.hpp"
#include "text_scan.hpp"

namespace pgcoro::detail {

struct array_text_element {
    std::string_view text;
    bool is_null = false;
    bool unescaped = false;  // text is a copy (backslashes removed), not a view of the field
};

// Reads an array literal element by element; the caller walks the braces.
class array_text_reader {
public:
    explicit array_text_reader(std::string_view text) noexcept : text_(text) {}

    // Skips "[lo:hi][lo:hi]=" (pgcoro's vectors do not keep lower bounds).
    void skip_dimension_decoration() {
        if (peek() != '[') return;
        const std::size_t eq = text_.find('=', at_);
        if (eq == std::string_view::npos) fail();
        at_ = eq + 1;
        skip_space();
    }

    // The number of dimensions: the '{' that open the literal, 0 for "{}".
    int count_dimensions() const noexcept {
        std::size_t i = at_;
        int n = 0;
        while (i < text_.size() && (text_[i] == '{' || is_pg_space(text_[i]))) n += text_[i++] == '{';
        while (i < text_.size() && is_pg_space(text_[i])) ++i;
        if (n == 1 && i < text_.size() && text_[i] == '}') return 0;
        return n;
    }

    bool consume(char c) {
        skip_space();
        if (peek() != c) return false;
        ++at_;
        skip_space();
        return true;
    }
    void expect(char c) {
        if (!consume(c)) fail();
    }
    void expect_end() {
        skip_space();
        if (at_ != text_.size()) fail();
    }

    array_text_element element() {
        skip_space();
        array_text_element e;
        if (peek() == '"') {
            const std::size_t begin = ++at_;
            bool escaped = false;
            while (at_ < text_.size() && text_[at_] != '"') {
                if (text_[at_] == '\\') {
                    escaped = true;
                    ++at_;
                }
                ++at_;
            }
            if (at_ >= text_.size()) fail();
            e.text = text_.substr(begin, at_ - begin);
            ++at_;  // closing quote
            if (escaped) unescape(e);
        } else {
            const std::size_t begin = at_;
            bool escaped = false;
            while (at_ < text_.size() && text_[at_] != ',' && text_[at_] != '}') {
                if (text_[at_] == '{' || text_[at_] == '"') fail();
                if (text_[at_] == '\\') {
                    escaped = true;
                    ++at_;
                }
                ++at_;
            }
            if (at_ >= text_.size()) fail();
            std::size_t end = at_;
            while (end > begin && is_pg_space(text_[end - 1])) --end;
            e.text = text_.substr(begin, end - begin);
            if (e.text.empty()) fail();
            if (escaped) unescape(e);
            else e.is_null = iequals(e.text, "NULL");
        }
        skip_space();
        return e;
    }

    [[noreturn]] void fail() const { throw_bad_text("array", text_); }

private:
    char peek() const noexcept { return at_ < text_.size() ? text_[at_] : '\0'; }
    void skip_space() noexcept {
        while (at_ < text_.size() && is_pg_space(text_[at_])) ++at_;
    }
    void unescape(array_text_element& e) {
        scratch_.clear();
        for (std::size_t i = 0; i < e.text.size(); ++i) {
            if (e.text[i] == '\\') ++i;
            if (i < e.text.size()) scratch_ += e.text[i];
        }
        e.text = scratch_;
        e.unescaped = true;
    }

    std::string_view text_;
    std::size_t at_ = 0;
    std::string scratch_;  // the current element when it had escapes
};

// Appends a double-quoted element: the element's text is appended by
// `write`, then backslash-escaped in place if it needs it. Quoting every
// element is always valid input, whatever the element type.
template <class Write>
void append_quoted_element(std::string& out, Write&& write) {
    out += '"';
    const std::size_t begin = out.size();
    write(out);
    std::size_t specials = 0;
    for (std::size_t i = begin; i < out.size(); ++i) specials += out[i] == '"' || out[i] == '\\';
    if (specials != 0) {
        const std::size_t end = out.size();
        out.resize(end + specials);
        // Walk backwards so that each byte moves once.
        std::size_t to = out.size();
        for (std::size_t from = end; from > begin;) {
            const char c = out[--from];
            out[--to] = c;
            if (c == '"' || c == '\\') out[--to] = '\\';
        }
    }
    out += '"';
}

}  // namespace pgcoro::detail
