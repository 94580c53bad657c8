// See json.hpp. Strict enough for documents PyTorch writes; depth and size are bounded so that
// a hostile package cannot exhaust the stack.
#include "json.hpp"

#include <cstdlib>
#include <string>

#include "internal.hpp"

namespace tsrt {

namespace {

constexpr int kMaxDepth = 64;

class Parser {
   public:
    Parser(const std::string &text, const std::string &what) : s_(text), what_(what) {}

    Json document() {
        Json value = parse(0);
        skip_space();
        if (at_ != s_.size()) error("text after the end");
        return value;
    }

   private:
    [[noreturn]] void error(const std::string &problem) {
        fail(TSRT_ERR_BAD_MODEL, "the .pt2 package's " + what_ + " is not valid JSON (" + problem +
                                     " at byte " + std::to_string(at_) + ")");
    }

    void skip_space() {
        while (at_ < s_.size() &&
               (s_[at_] == ' ' || s_[at_] == '\n' || s_[at_] == '\r' || s_[at_] == '\t'))
            ++at_;
    }

    bool take(const char *word) {
        size_t n = std::char_traits<char>::length(word);
        if (s_.compare(at_, n, word) != 0) return false;
        at_ += n;
        return true;
    }

    void expect(char c) {
        skip_space();
        if (at_ >= s_.size() || s_[at_] != c) error(std::string("expected '") + c + "'");
        ++at_;
    }

    static void append_utf8(std::string &out, unsigned code) {
        if (code < 0x80) {
            out += static_cast<char>(code);
        } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
        } else {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        }
    }

    unsigned hex4() {
        if (at_ + 4 > s_.size()) error("short \\u escape");
        unsigned code = 0;
        for (int i = 0; i < 4; ++i) {
            char c = s_[at_++];
            code <<= 4;
            if (c >= '0' && c <= '9')
                code |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f')
                code |= static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                code |= static_cast<unsigned>(c - 'A' + 10);
            else
                error("bad \\u escape");
        }
        return code;
    }

    std::string string() {
        expect('"');
        std::string out;
        while (true) {
            if (at_ >= s_.size()) error("unterminated string");
            char c = s_[at_++];
            if (c == '"') return out;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (at_ >= s_.size()) error("unterminated escape");
            char e = s_[at_++];
            switch (e) {
                case '"':
                case '\\':
                case '/': out += e; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    unsigned code = hex4();
                    if (code >= 0xD800 && code < 0xDC00 && take("\\u")) {
                        unsigned low = hex4();
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                        out += static_cast<char>(0xF0 | (code >> 18));
                        out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
                        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
                        out += static_cast<char>(0x80 | (code & 0x3F));
                    } else {
                        append_utf8(out, code);
                    }
                    break;
                }
                default: error("bad escape");
            }
        }
    }

    Json parse(int depth) {
        if (depth > kMaxDepth) error("nesting deeper than " + std::to_string(kMaxDepth));
        skip_space();
        if (at_ >= s_.size()) error("unexpected end");
        Json value;
        char c = s_[at_];
        if (c == '{') {
            value.kind = Json::Object;
            ++at_;
            skip_space();
            if (at_ < s_.size() && s_[at_] == '}') {
                ++at_;
                return value;
            }
            while (true) {
                skip_space();
                std::string key = string();
                expect(':');
                value.fields.emplace_back(std::move(key), parse(depth + 1));
                skip_space();
                if (at_ < s_.size() && s_[at_] == ',') {
                    ++at_;
                    continue;
                }
                expect('}');
                return value;
            }
        }
        if (c == '[') {
            value.kind = Json::Array;
            ++at_;
            skip_space();
            if (at_ < s_.size() && s_[at_] == ']') {
                ++at_;
                return value;
            }
            while (true) {
                value.items.push_back(parse(depth + 1));
                skip_space();
                if (at_ < s_.size() && s_[at_] == ',') {
                    ++at_;
                    continue;
                }
                expect(']');
                return value;
            }
        }
        if (c == '"') {
            value.kind = Json::String;
            value.text = string();
            return value;
        }
        if (take("null")) return value;
        if (take("true") || take("false")) {
            value.kind = Json::Bool;
            value.boolean = s_[at_ - 1] == 'e' && s_[at_ - 2] == 'u';
            return value;
        }
        const char *begin = s_.c_str() + at_;
        char *end = nullptr;
        double number = std::strtod(begin, &end);
        if (end == begin) error("unexpected character");
        at_ += static_cast<size_t>(end - begin);
        value.kind = Json::Number;
        value.number = number;
        return value;
    }

    const std::string &s_;
    std::string what_;
    size_t at_ = 0;
};

}  // namespace

const Json *Json::field(const std::string &name) const {
    if (kind != Object) return nullptr;
    for (const auto &[key, value] : fields)
        if (key == name) return &value;
    return nullptr;
}

Json parse_json(const std::string &text, const std::string &what) {
    return Parser(text, what).document();
}

}  // namespace tsrt
