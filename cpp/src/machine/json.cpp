#include "bootmirror/json.h"
#include "bootmirror/unicode.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "bootmirror/error.h"

namespace bootmirror {

namespace {

constexpr const char* kSource = "machine.json";

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Json document() {
    Json value = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("text after the end of the JSON value");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(fmt::format("{}: {}", kSource, what), pos_); }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t'))
      ++pos_;
  }

  bool take(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Json parse_value(int depth) {
    if (depth > 64) fail("nesting deeper than 64 levels");
    skip_space();
    if (pos_ >= text_.size()) fail("unexpected end of text");
    const char c = text_[pos_];
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') return Json(parse_string());
    if (take("true")) return Json(true);
    if (take("false")) return Json(false);
    if (take("null")) return Json();
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    fail(fmt::format("unexpected character '{}'", c));
  }

  Json parse_object(int depth) {
    ++pos_;
    Json::Object object;
    skip_space();
    if (take("}")) return Json(std::move(object));
    for (;;) {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"') fail("expected a quoted key");
      std::string key = parse_string();
      skip_space();
      if (!take(":")) fail("expected ':' after a key");
      object[key] = parse_value(depth + 1);
      skip_space();
      if (take("}")) return Json(std::move(object));
      if (!take(",")) fail("expected ',' or '}' in an object");
    }
  }

  Json parse_array(int depth) {
    ++pos_;
    Json::Array array;
    skip_space();
    if (take("]")) return Json(std::move(array));
    for (;;) {
      array.push_back(parse_value(depth + 1));
      skip_space();
      if (take("]")) return Json(std::move(array));
      if (!take(",")) fail("expected ',' or ']' in an array");
    }
  }

  std::string parse_string() {
    ++pos_;  // the opening quote
    std::string out;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          char32_t code = parse_hex4();
          // UTF-8 holds no surrogates: a high one must pair with a low one, or the text is not
          // text (it would reach Python as a UnicodeDecodeError).
          if (code >= 0xD800 && code <= 0xDBFF && take("\\u")) {
            const char32_t low = parse_hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail("a UTF-16 high surrogate without its low one in a \\u escape");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          if (code >= 0xD800 && code <= 0xDFFF) fail("a lone UTF-16 surrogate in a \\u escape");
          append_utf8(out, code);
          break;
        }
        default: fail("unknown escape in a string");
      }
    }
    fail("unterminated string");
  }

  char32_t parse_hex4() {
    if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
    char32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      value <<= 4;
      if (c >= '0' && c <= '9') value |= c - '0';
      else if (c >= 'a' && c <= 'f') value |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') value |= c - 'A' + 10;
      else fail("bad hex digit in a \\u escape");
    }
    return value;
  }

  Json parse_number() {
    const std::size_t start = pos_;
    if (text_[pos_] == '-') ++pos_;
    bool is_float = false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c >= '0' && c <= '9') {
        ++pos_;
      } else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
        is_float = true;
        ++pos_;
      } else {
        break;
      }
    }
    const std::string number(text_.substr(start, pos_ - start));
    char* end = nullptr;
    errno = 0;
    if (!is_float) {
      const long long value = std::strtoll(number.c_str(), &end, 10);
      if (errno == 0 && end == number.c_str() + number.size()) return Json(std::int64_t(value));
    }
    const double value = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size() || !std::isfinite(value)) fail("malformed number");
    return Json(value);
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

void dump_string(std::string& out, const std::string& text) {
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", int(c));
        else out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace

Json Json::parse(std::string_view text) { return Parser(text).document(); }


std::string Json::dump(int indent) const {
  std::string out;
  struct Visitor {
    std::string& out;
    int indent;
    int level;
    void newline(int at) const {
      out.push_back('\n');
      out.append(std::size_t(at * indent), ' ');
    }
    void operator()(std::monostate) const { out += "null"; }
    void operator()(bool b) const { out += b ? "true" : "false"; }
    void operator()(std::int64_t i) const { out += fmt::format("{}", i); }
    void operator()(double d) const {
      // fmt writes the shortest text that reads back as `d`; one without a fraction or exponent
      // ("-0", "100000000") would read back as an integer (and -0 as 0), so it gets ".0".
      const std::string text = fmt::format("{}", d);
      out += text;
      if (text.find_first_of(".eE") == std::string::npos) out += ".0";
    }
    void operator()(const std::string& s) const { dump_string(out, s); }
    void operator()(const Array& a) const {
      if (a.empty()) {
        out += "[]";
        return;
      }
      out.push_back('[');
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i) out.push_back(',');
        newline(level + 1);
        std::visit(Visitor{out, indent, level + 1}, a[i].value_);
      }
      newline(level);
      out.push_back(']');
    }
    void operator()(const Object& o) const {
      if (o.empty()) {
        out += "{}";
        return;
      }
      out.push_back('{');
      bool first = true;
      for (const auto& [key, member] : o) {
        if (!first) out.push_back(',');
        first = false;
        newline(level + 1);
        dump_string(out, key);
        out += ": ";
        std::visit(Visitor{out, indent, level + 1}, member.value_);
      }
      newline(level);
      out.push_back('}');
    }
  };
  std::visit(Visitor{out, indent, 0}, value_);
  return out;
}

const Json::Object& Json::object(std::string_view what) const {
  if (auto* o = std::get_if<Object>(&value_)) return *o;
  throw FormatError(fmt::format("{}: {} should be an object", kSource, what));
}
const Json::Array& Json::array(std::string_view what) const {
  if (auto* a = std::get_if<Array>(&value_)) return *a;
  throw FormatError(fmt::format("{}: {} should be an array", kSource, what));
}
const std::string& Json::string(std::string_view what) const {
  if (auto* s = std::get_if<std::string>(&value_)) return *s;
  throw FormatError(fmt::format("{}: {} should be a string", kSource, what));
}
std::int64_t Json::integer(std::string_view what) const {
  if (auto* i = std::get_if<std::int64_t>(&value_)) return *i;
  throw FormatError(fmt::format("{}: {} should be an integer", kSource, what));
}
bool Json::boolean(std::string_view what) const {
  if (auto* b = std::get_if<bool>(&value_)) return *b;
  throw FormatError(fmt::format("{}: {} should be true or false", kSource, what));
}
std::int64_t Json::integer(std::string_view what, std::int64_t min, std::int64_t max) const {
  const std::int64_t value = integer(what);
  if (value < min || value > max)
    throw FormatError(fmt::format("{}: {} {} is not between {} and {}", kSource, what, value, min, max));
  return value;
}
Json::Object& Json::object_mut(std::string_view what) {
  if (is_null()) value_ = Object{};
  if (auto* o = std::get_if<Object>(&value_)) return *o;
  throw FormatError(fmt::format("{}: {} should be an object", kSource, what));
}
const Json& Json::operator[](const std::string& key) const {
  static const Json null;
  if (auto* o = std::get_if<Object>(&value_)) {
    auto it = o->find(key);
    if (it != o->end()) return it->second;
  }
  return null;
}

}  // namespace bootmirror
