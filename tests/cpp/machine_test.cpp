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

TEST(Machine, AScratchCopyKeepsItsWritesAndDiskNumbersToItself) {
  auto m = std::make_shared<Machine>();
  auto d0 = std::make_shared<MemoryDisk>(1 << 20);
  auto d1 = std::make_shared<MemoryDisk>(1 << 20);
  m->attach(d0);
  m->attach(d1);
  m->attach(std::make_shared<MemoryDisk>(1 << 20));
  m->fail_disk(1);
  m->section("firmware").object_mut()["boot_current"] = Json(3);
  d0->write(0, ByteVector(512, std::byte{0xAB}));

  auto copy = m->scratch_copy();
  ASSERT_EQ(copy->disks().size(), 3u);
  EXPECT_TRUE(copy->disk(1).missing());
  EXPECT_TRUE(copy->disk(1).failed);
  EXPECT_EQ(copy->section("firmware")["boot_current"].integer(), 3);
  EXPECT_EQ(copy->disk(0).device->read(0, 512), ByteVector(512, std::byte{0xAB}));  // reads the original's bytes
  copy->disk(0).device->write(0, ByteVector(512, std::byte{0x11}));
  copy->fail_disk(2);
  copy->section("firmware").object_mut()["boot_current"] = Json(7);
  // None of it reached the machine.
  EXPECT_EQ(d0->read(0, 512), ByteVector(512, std::byte{0xAB}));
  EXPECT_FALSE(m->disk(2).missing());
  EXPECT_EQ(m->section("firmware")["boot_current"].integer(), 3);
  EXPECT_EQ(copy->disk(0).device->read(0, 512), ByteVector(512, std::byte{0x11}));
}
