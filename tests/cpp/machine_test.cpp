#include <gtest/gtest.h>

#include "bootmirror/json.h"
#include "bootmirror/machine.h"

using namespace bootmirror;

TEST(Json, RoundTripsTheMachineFileShapes) {
  const Json doc(Json::Object{{"bootmirror_machine", 1},
                              {"disks", Json::Array{Json::Object{{"image", "disk0.img"}, {"number", 0}}}},
                              {"text", "quote \" backslash \\ newline \n tab \t \xc3\xa9"},
                              {"flag", true},
                              {"nothing", nullptr}});
  const Json back = Json::parse(doc.dump());
  EXPECT_EQ(back.dump(), doc.dump());
  EXPECT_EQ(back["disks"].array()[0]["image"].string(), "disk0.img");
  EXPECT_EQ(back["text"].string(), "quote \" backslash \\ newline \n tab \t \xc3\xa9");
  EXPECT_TRUE(back["nothing"].is_null());
  EXPECT_TRUE(back["absent"].is_null());
}

TEST(Json, EscapesAndNumbers) {
  const Json j = Json::parse(R"({"a": [1, -2, 3.5, 1e3], "u": "\u00e9\ud83d\ude00", "n": 9007199254740993})");
  EXPECT_EQ(j["a"].array()[1].integer(), -2);
  EXPECT_EQ(j["u"].string(), "\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(j["n"].integer(), 9007199254740993);
}

TEST(Json, MalformedTextIsAFormatErrorWithOffset) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "\"open", "tru", "{\"a\":1} x", "[\"\x01\"]"}) {
    try {
      Json::parse(bad);
      FAIL() << bad;
    } catch (const FormatError& e) {
      EXPECT_TRUE(e.offset().has_value()) << bad;
    }
  }
  std::string deep(100, '[');
  EXPECT_THROW(Json::parse(deep), FormatError);
  EXPECT_THROW(Json::parse("1")["x"].string(), FormatError);
}

TEST(Machine, InMemoryNumbersAndFocus) {
  Machine m;
  const int a = m.attach(std::make_shared<MemoryDisk>(1 << 20));
  const int b = m.attach(std::make_shared<MemoryDisk>(1 << 20));
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
  m.focus().disk = 1;
  m.focus().partition = 2;
  m.detach(1);
  EXPECT_FALSE(m.focus().disk.has_value());
  EXPECT_FALSE(m.focus().partition.has_value());
  EXPECT_THROW(m.disk(1), UsageError);
  EXPECT_THROW(m.create_disk(1 << 20), UsageError);
}
