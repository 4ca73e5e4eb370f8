// SASLprep (RFC 4013) of SCRAM passwords, exactly as PostgreSQL does it.
//
// The server stores a SCRAM verifier computed from SASLprep(password) and
// libpq sends proofs computed the same way, so a client that prepares a
// non-ASCII password differently cannot log in. PostgreSQL's pg_saslprep()
// (src/common/saslprep.c) departs from the RFC in ways we must copy:
//  - a password that is not valid UTF-8, or that SASLprep would reject, is
//    used as raw bytes instead of failing (prepare_scram_password());
//  - the prohibited-output and bidi checks look at the string after mapping
//    but before NFKC, not at the normalised output;
//  - a non-empty password that maps to nothing counts as prohibited, so its
//    raw bytes are used (an empty password stays empty);
//  - where U+200B is both in C.1.2 and B.1, it becomes a space.
// saslprep() itself reports ASCII control characters as prohibited, as the
// RFC says, where libpq's ASCII shortcut passes them through unchanged; both
// end in the same bytes through prepare_scram_password().
#pragma once

#include <pgcoro/auth/stringprep_tables.hpp>
#include <pgcoro/auth/unicode_nfkc_tables.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace pgcoro::auth {

enum class saslprep_status { ok, invalid_utf8, prohibited };

struct saslprep_result {
    saslprep_status status;
    std::string value;  // the prepared string; empty unless status == ok
};

namespace saslprep_detail {

inline constexpr char32_t hangul_s_base = 0xAC00;
inline constexpr char32_t hangul_l_base = 0x1100;
inline constexpr char32_t hangul_v_base = 0x1161;
inline constexpr char32_t hangul_t_base = 0x11A7;
inline constexpr char32_t hangul_l_count = 19;
inline constexpr char32_t hangul_v_count = 21;
inline constexpr char32_t hangul_t_count = 28;
inline constexpr char32_t hangul_s_count = hangul_l_count * hangul_v_count * hangul_t_count;

inline constexpr bool is_hangul_syllable(char32_t code) noexcept {
    return code >= hangul_s_base && code < hangul_s_base + hangul_s_count;
}

// Strict UTF-8 (RFC 3629), as PostgreSQL's pg_utf8_islegal(): overlong forms,
// surrogates, code points above U+10FFFF and truncated sequences all fail.
inline bool decode_utf8(std::string_view in, std::u32string& out) {
    out.reserve(in.size());
    std::size_t i = 0;
    while (i < in.size()) {
        const auto lead = static_cast<unsigned char>(in[i]);
        if (lead < 0x80) {
            out.push_back(lead);
            ++i;
            continue;
        }
        std::size_t length;
        char32_t code;
        if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
            code = lead & 0x1F;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            code = lead & 0x0F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            code = lead & 0x07;
        } else {
            return false;  // continuation byte, C0/C1 overlong lead, or above U+10FFFF
        }
        if (in.size() - i < length) return false;
        for (std::size_t k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(in[i + k]);
            if ((next & 0xC0) != 0x80) return false;
            code = code << 6 | (next & 0x3F);
        }
        if (length == 3 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) return false;
        if (length == 4 && (code < 0x10000 || code > 0x10FFFF)) return false;
        out.push_back(code);
        i += length;
    }
    return true;
}

inline void append_utf8(char32_t code, std::string& out) {
    if (code < 0x80) {
        out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
        out.push_back(static_cast<char>(0xC0 | code >> 6));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | code >> 12));
        out.push_back(static_cast<char>(0x80 | (code >> 6 & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | code >> 18));
        out.push_back(static_cast<char>(0x80 | (code >> 12 & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code >> 6 & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
}

inline std::string encode_utf8(std::u32string_view text) {
    std::string out;
    out.reserve(text.size() * 2);
    for (char32_t code : text) append_utf8(code, out);
    return out;
}

// RFC 4013 section 2.1, in place.
inline void map_characters(std::u32string& text) {
    std::size_t kept = 0;
    for (char32_t code : text) {
        // C.1.2 first: U+200B is in both tables and libpq makes it a space.
        if (stringprep::contains(stringprep::non_ascii_space, code)) {
            text[kept++] = U' ';
        } else if (!stringprep::contains(stringprep::mapped_to_nothing, code)) {
            text[kept++] = code;
        }
    }
    text.resize(kept);
}

inline bool has_prohibited(std::u32string_view text) {
    for (char32_t code : text) {
        if (stringprep::contains(stringprep::prohibited, code)) return true;
    }
    return false;
}

// RFC 3454 section 6: a string with any RandALCat character must hold no
// LCat character and must begin and end with a RandALCat character.
inline bool satisfies_bidi_rules(std::u32string_view text) {
    bool has_right_to_left = false;
    bool has_left_to_right = false;
    for (char32_t code : text) {
        has_right_to_left = has_right_to_left || stringprep::contains(stringprep::right_to_left, code);
        has_left_to_right = has_left_to_right || stringprep::contains(stringprep::left_to_right, code);
    }
    if (!has_right_to_left) return true;
    return !has_left_to_right && stringprep::contains(stringprep::right_to_left, text.front()) &&
           stringprep::contains(stringprep::right_to_left, text.back());
}

inline void append_compatibility_decomposition(char32_t code, std::u32string& out) {
    if (is_hangul_syllable(code)) {
        const char32_t index = code - hangul_s_base;
        out.push_back(hangul_l_base + index / (hangul_v_count * hangul_t_count));
        out.push_back(hangul_v_base + index % (hangul_v_count * hangul_t_count) / hangul_t_count);
        if (index % hangul_t_count != 0) out.push_back(hangul_t_base + index % hangul_t_count);
        return;
    }
    const auto mapping = unicode_nfkc::decomposition(code);
    if (mapping.empty()) {
        out.push_back(code);
    } else {
        out.append(mapping.begin(), mapping.end());
    }
}

// Stable sort of every run of non-starters by combining class (UAX #15 D109);
// runs are a few characters long, so insertion sort.
inline void reorder_canonically(std::u32string& text) {
    for (std::size_t i = 1; i < text.size(); ++i) {
        const char32_t code = text[i];
        const auto cls = unicode_nfkc::combining_class(code);
        if (cls == 0) continue;
        std::size_t j = i;
        while (j > 0 && unicode_nfkc::combining_class(text[j - 1]) > cls) {
            text[j] = text[j - 1];
            --j;
        }
        text[j] = code;
    }
}

// The primary composite of a pair, or 0.
inline char32_t compose_pair(char32_t starter, char32_t next) noexcept {
    if (starter >= hangul_l_base && starter < hangul_l_base + hangul_l_count && next >= hangul_v_base &&
        next < hangul_v_base + hangul_v_count) {
        return hangul_s_base + ((starter - hangul_l_base) * hangul_v_count + (next - hangul_v_base)) * hangul_t_count;
    }
    if (is_hangul_syllable(starter) && (starter - hangul_s_base) % hangul_t_count == 0 && next > hangul_t_base &&
        next < hangul_t_base + hangul_t_count) {
        return starter + (next - hangul_t_base);
    }
    return unicode_nfkc::compose(starter, next);
}

// Canonical composition (UAX #15 D117) of reordered text, in place.
inline void compose_canonically(std::u32string& text) {
    constexpr std::size_t no_starter = static_cast<std::size_t>(-1);
    std::size_t starter = no_starter;
    // Class of the last character kept after the starter; 0 while none is,
    // since every character kept after a starter is a non-starter.
    std::uint8_t last_class = 0;
    std::size_t kept = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char32_t code = text[i];
        const auto cls = unicode_nfkc::combining_class(code);
        const bool blocked = last_class != 0 && last_class >= cls;
        if (starter != no_starter && !blocked) {
            if (const char32_t composite = compose_pair(text[starter], code); composite != 0) {
                text[starter] = composite;
                continue;
            }
        }
        if (cls == 0) starter = kept;
        last_class = cls;
        text[kept++] = code;
    }
    text.resize(kept);
}

inline std::u32string nfkc(std::u32string_view text) {
    std::u32string normalised;
    normalised.reserve(text.size());
    for (char32_t code : text) append_compatibility_decomposition(code, normalised);
    reorder_canonically(normalised);
    compose_canonically(normalised);
    return normalised;
}

}  // namespace saslprep_detail

inline saslprep_result saslprep(std::string_view input) {
    // Pure ASCII is the common case and needs no table: NFKC leaves it as it
    // is, and of the prohibited characters only the controls are ASCII.
    bool ascii = true;
    bool has_control = false;
    for (const char c : input) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x80) {
            ascii = false;
            break;
        }
        has_control = has_control || byte < 0x20 || byte == 0x7F;
    }
    if (ascii) {
        if (has_control) return {saslprep_status::prohibited, {}};
        return {saslprep_status::ok, std::string(input)};
    }

    std::u32string text;
    if (!saslprep_detail::decode_utf8(input, text)) return {saslprep_status::invalid_utf8, {}};
    saslprep_detail::map_characters(text);
    // libpq refuses to turn a non-empty password into an empty one.
    if (text.empty()) return {saslprep_status::prohibited, {}};
    // Checked before normalising, like libpq (the RFC checks the output).
    if (saslprep_detail::has_prohibited(text) || !saslprep_detail::satisfies_bidi_rules(text)) {
        return {saslprep_status::prohibited, {}};
    }
    return {saslprep_status::ok, saslprep_detail::encode_utf8(saslprep_detail::nfkc(text))};
}

// What libpq feeds to SCRAM: the SASLprep'd password, or the password's own
// bytes when SASLprep does not accept it.
inline std::string prepare_scram_password(std::string_view password) {
    saslprep_result prepared = saslprep(password);
    if (prepared.status != saslprep_status::ok) return std::string(password);
    return std::move(prepared.value);
}

}  // namespace pgcoro::auth
