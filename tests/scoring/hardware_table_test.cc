// scoring/hardware_table.h: the embedded table parses, covers the families
// the collector and prediction need, and holds figures in sane ranges; every
// row's name and alias finds its own row; the names drivers report (NVML,
// ROCm, Metal, Level Zero) find the right row, memory variants by memory;
// near-misses find nothing rather than a different model; the leaderboard
// name of known and unknown devices; every kind of malformed table is
// rejected with its line.
#include "scoring/hardware_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace aiscore {
namespace {

using ::testing::HasSubstr;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

int64_t GiB(double gib) { return static_cast<int64_t>(gib * kGiB); }

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The name of the row `reported` matches, or "(none)".
std::string Matched(std::string_view reported, int64_t memory_bytes = 0) {
  const HardwareSpec* row = MatchHardware(reported, memory_bytes);
  return row == nullptr ? "(none)" : row->name;
}

TEST(HardwareTableTest, EmbeddedTableParsesAndHasEnoughRows) {
  absl::StatusOr<std::vector<HardwareSpec>> parsed = ParseHardwareTable(HardwareTableCsv());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->size(), HardwareTable().size());
  EXPECT_GE(HardwareTable().size(), 70u);
}

TEST(HardwareTableTest, EveryRequiredFamilyIsPresent) {
  std::set<std::string> families;
  for (const HardwareSpec& row : HardwareTable()) families.insert(row.family);
  for (const char* family : {"volta", "turing", "ampere", "ada", "hopper", "blackwell", "rdna2",
                             "rdna3", "rdna4", "cdna2", "cdna3", "apple-m1", "apple-m2", "apple-m3",
                             "apple-m4", "alchemist", "battlemage"}) {
    EXPECT_TRUE(families.count(family)) << family;
  }
}

TEST(HardwareTableTest, EveryVendorIsPresentWithRowsOfItsOwn) {
  std::set<std::string> vendors;
  for (const HardwareSpec& row : HardwareTable()) {
    vendors.insert(row.vendor);
    EXPECT_TRUE(row.vendor == "NVIDIA" || row.vendor == "AMD" || row.vendor == "Apple" ||
                row.vendor == "Intel")
        << row.name;
    EXPECT_EQ(row.name.rfind(row.vendor + " ", 0), 0u) << row.name << " starts with its vendor";
  }
  EXPECT_EQ(vendors.size(), 4u);
}

TEST(HardwareTableTest, FiguresAreInSaneRanges) {
  for (const HardwareSpec& row : HardwareTable()) {
    SCOPED_TRACE(row.name);
    const double gib = static_cast<double>(row.memory_bytes) / kGiB;
    // Apple rows hold the largest unified-memory configuration (M3 Ultra: 512 GB).
    const double max_gib = row.vendor == "Apple" ? 512 : 300;
    EXPECT_GE(gib, 4);
    EXPECT_LE(gib, max_gib);
    EXPECT_GE(row.memory_bandwidth, 50e9);
    EXPECT_LE(row.memory_bandwidth, 10000e9);
    EXPECT_GE(row.fp16_flops, 1e12);
    EXPECT_LE(row.fp16_flops, 5000e12);
    EXPECT_FALSE(row.source.empty());
    EXPECT_FALSE(row.family.empty());
  }
}

TEST(HardwareTableTest, KnownFiguresAreInBytesAndFlops) {
  const HardwareSpec* rtx4090 = MatchHardware("NVIDIA GeForce RTX 4090");
  ASSERT_NE(rtx4090, nullptr);
  EXPECT_EQ(rtx4090->memory_bytes, int64_t{24} << 30);
  EXPECT_DOUBLE_EQ(rtx4090->memory_bandwidth, 1008e9);
  EXPECT_DOUBLE_EQ(rtx4090->fp16_flops, 330.3e12);
  EXPECT_EQ(rtx4090->family, "ada");
  EXPECT_EQ(rtx4090->vendor, "NVIDIA");
  const HardwareSpec* h100 = MatchHardware("NVIDIA H100 80GB HBM3");
  ASSERT_NE(h100, nullptr);
  EXPECT_DOUBLE_EQ(h100->memory_bandwidth, 3350e9);
  EXPECT_DOUBLE_EQ(h100->fp16_flops, 989.4e12);
}

// Every row is found by its name and each alias, as written, in other case,
// with the vendor in front or without it, with memory unknown or as a driver
// reports it.
TEST(HardwareTableTest, EveryNameAndAliasMatchesItsOwnRow) {
  for (const HardwareSpec& row : HardwareTable()) {
    std::vector<std::string> spellings = {row.name, row.name.substr(row.vendor.size() + 1)};
    for (const std::string& alias : row.aliases) {
      spellings.push_back(alias);
      spellings.push_back(row.vendor + " " + alias);
    }
    const int64_t reported = static_cast<int64_t>(0.995 * static_cast<double>(row.memory_bytes));
    for (const std::string& spelling : spellings) {
      for (const std::string& s : {spelling, Upper(spelling), Lower(spelling)}) {
        EXPECT_EQ(MatchHardware(s), &row) << "'" << s << "' should match " << row.name;
        EXPECT_EQ(MatchHardware(s, reported), &row)
            << "'" << s << "' with " << reported << " bytes should match " << row.name;
      }
    }
  }
}

struct DriverName {
  const char* reported;
  double memory_gib;  // as the driver reports it; 0: unknown
  const char* expected;
};

TEST(HardwareTableTest, DriverSpellingsMatchTheRightRow) {
  const DriverName cases[] = {
      // NVML
      {"NVIDIA GeForce RTX 4090", 23.99, "NVIDIA GeForce RTX 4090"},
      {"NVIDIA GeForce RTX 4090", 0, "NVIDIA GeForce RTX 4090"},
      {"NVIDIA GeForce RTX 4080", 15.99, "NVIDIA GeForce RTX 4080"},
      {"NVIDIA GeForce RTX 4080 SUPER", 15.99, "NVIDIA GeForce RTX 4080 SUPER"},
      {"NVIDIA GeForce RTX 4060", 7.996, "NVIDIA GeForce RTX 4060"},
      {"NVIDIA GeForce RTX 4060 Ti", 7.996, "NVIDIA GeForce RTX 4060 Ti 8GB"},
      {"NVIDIA GeForce RTX 4060 Ti", 15.996, "NVIDIA GeForce RTX 4060 Ti 16GB"},
      {"NVIDIA GeForce RTX 4060Ti", 15.996, "NVIDIA GeForce RTX 4060 Ti 16GB"},
      {"NVIDIA GeForce RTX 3060", 11.99, "NVIDIA GeForce RTX 3060 12GB"},
      {"NVIDIA GeForce RTX 3060", 7.99, "NVIDIA GeForce RTX 3060 8GB"},
      {"NVIDIA GeForce RTX 3060 Ti", 7.99, "NVIDIA GeForce RTX 3060 Ti"},
      {"NVIDIA GeForce RTX 3080", 10.0, "NVIDIA GeForce RTX 3080 10GB"},
      {"NVIDIA GeForce RTX 3080", 11.76, "NVIDIA GeForce RTX 3080 12GB"},
      {"NVIDIA GeForce RTX 3090", 23.69, "NVIDIA GeForce RTX 3090"},
      {"NVIDIA GeForce RTX 2080 Ti", 10.75, "NVIDIA GeForce RTX 2080 Ti"},
      {"NVIDIA GeForce RTX 5090", 31.84, "NVIDIA GeForce RTX 5090"},
      {"NVIDIA GeForce RTX 5060 Ti", 15.93, "NVIDIA GeForce RTX 5060 Ti 16GB"},
      {"NVIDIA GeForce RTX 4090 Laptop GPU", 15.99, "NVIDIA GeForce RTX 4090 Laptop GPU"},
      {"NVIDIA RTX A6000", 47.99, "NVIDIA RTX A6000"},
      {"NVIDIA RTX 6000 Ada Generation", 47.99, "NVIDIA RTX 6000 Ada Generation"},
      {"NVIDIA RTX 4000 SFF Ada Generation", 19.99, "NVIDIA RTX 4000 SFF Ada Generation"},
      {"NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 95.59, "NVIDIA RTX PRO 6000 Blackwell"},
      {"NVIDIA RTX PRO 6000 Blackwell Server Edition", 95.59, "NVIDIA RTX PRO 6000 Blackwell"},
      {"Tesla V100-SXM2-32GB", 31.74, "NVIDIA V100 SXM2 32GB"},
      {"Tesla V100-SXM2-16GB", 15.78, "NVIDIA V100 SXM2 16GB"},
      {"Tesla V100-PCIE-16GB", 15.78, "NVIDIA V100 PCIe 16GB"},
      {"Tesla V100S-PCIE-32GB", 31.74, "NVIDIA V100S PCIe"},
      {"Tesla T4", 14.75, "NVIDIA T4"},
      {"NVIDIA A10", 22.49, "NVIDIA A10"},
      {"NVIDIA A100-SXM4-80GB", 79.15, "NVIDIA A100 SXM4 80GB"},
      {"NVIDIA A100-SXM4-40GB", 39.39, "NVIDIA A100 SXM4 40GB"},
      {"NVIDIA A100-PCIE-40GB", 39.39, "NVIDIA A100 PCIe 40GB"},
      {"NVIDIA A100 80GB PCIe", 79.15, "NVIDIA A100 PCIe 80GB"},
      {"NVIDIA L4", 22.49, "NVIDIA L4"},
      {"NVIDIA L40", 44.99, "NVIDIA L40"},
      {"NVIDIA L40S", 44.99, "NVIDIA L40S"},
      {"NVIDIA H100 PCIe", 79.65, "NVIDIA H100 PCIe"},
      {"NVIDIA H100 80GB HBM3", 79.65, "NVIDIA H100 SXM5 80GB"},
      {"NVIDIA H100 NVL", 93.58, "NVIDIA H100 NVL"},
      {"NVIDIA H200", 140.4, "NVIDIA H200 SXM"},
      {"NVIDIA H200 NVL", 140.4, "NVIDIA H200 NVL"},
      {"NVIDIA GH200 480GB", 95.58, "NVIDIA GH200 96GB"},
      {"NVIDIA GH200 144G HBM3e", 142.0, "NVIDIA GH200 144GB"},
      {"NVIDIA B200", 179.06, "NVIDIA B200"},
      // ROCm and Vulkan
      {"AMD Radeon RX 7900 XTX", 23.98, "AMD Radeon RX 7900 XTX"},
      {"Radeon RX 7900 XTX", 23.98, "AMD Radeon RX 7900 XTX"},
      {"AMD Radeon RX 7900 XTX (RADV NAVI31)", 23.98, "AMD Radeon RX 7900 XTX"},
      {"AMD Radeon RX 7900 XT", 19.98, "AMD Radeon RX 7900 XT"},
      {"AMD Radeon RX 6800 XT", 15.98, "AMD Radeon RX 6800 XT"},
      {"AMD Radeon RX 9070 XT", 15.92, "AMD Radeon RX 9070 XT"},
      {"AMD Radeon RX 9060 XT", 7.98, "AMD Radeon RX 9060 XT 8GB"},
      {"AMD Radeon PRO W7900", 47.98, "AMD Radeon PRO W7900"},
      {"AMD Instinct MI300X", 191.98, "AMD Instinct MI300X"},
      {"AMD Instinct MI250X", 63.98, "AMD Instinct MI250X"},
      {"AMD Instinct MI210", 63.98, "AMD Instinct MI210"},
      // Metal / sysctl
      {"Apple M1", 16, "Apple M1"},
      {"Apple M2 Max", 0, "Apple M2 Max"},
      {"Apple M2 Max", 32, "Apple M2 Max"},
      {"Apple M3 Max", 36, "Apple M3 Max"},
      {"Apple M4 Pro", 24, "Apple M4 Pro"},
      {"Apple M3 Ultra", 512, "Apple M3 Ultra"},
      // Level Zero / SYCL / Vulkan
      {"Intel(R) Arc(TM) A770 Graphics", 15.91, "Intel Arc A770 16GB"},
      {"Intel(R) Arc(TM) A770 Graphics", 7.96, "Intel Arc A770 8GB"},
      {"Intel(R) Arc(TM) A770 Graphics (DG2)", 15.91, "Intel Arc A770 16GB"},
      {"Intel(R) Arc(TM) A750 Graphics", 7.96, "Intel Arc A750"},
      {"Intel(R) Arc(TM) B580 Graphics", 11.87, "Intel Arc B580"},
      {"Intel® Arc™ B570 Graphics", 9.87, "Intel Arc B570"},
      // What people type
      {"rtx 4060 ti 16gb", 0, "NVIDIA GeForce RTX 4060 Ti 16GB"},
      {"RTX 4060 Ti 16 GB", 0, "NVIDIA GeForce RTX 4060 Ti 16GB"},
      {"RTX 4060 Ti (16GB)", 15.996, "NVIDIA GeForce RTX 4060 Ti 16GB"},
      {"4090", 0, "NVIDIA GeForce RTX 4090"},
      {"RTX 4090 24GB", 0, "NVIDIA GeForce RTX 4090"},
      {"rx 7900xtx", 0, "AMD Radeon RX 7900 XTX"},
      {"RTX 3080 12GB", 0, "NVIDIA GeForce RTX 3080 12GB"},
      {"A100 PCIe 80GB", 0, "NVIDIA A100 PCIe 80GB"},
      {"A100 SXM4", 79.15, "NVIDIA A100 SXM4 80GB"},
      {"A100 SXM4", 39.39, "NVIDIA A100 SXM4 40GB"},
      {"Arc A770", 15.91, "Intel Arc A770 16GB"},
      {"M3 Max", 0, "Apple M3 Max"},
  };
  for (const DriverName& c : cases) {
    EXPECT_EQ(Matched(c.reported, GiB(c.memory_gib)), c.expected)
        << "'" << c.reported << "' with " << c.memory_gib << " GiB";
  }
}

TEST(HardwareTableTest, NearMissesMatchNothing) {
  const DriverName cases[] = {
      {"", 0, nullptr},
      {"   ", 0, nullptr},
      {"NVIDIA", 0, nullptr},
      {"NVIDIA GeForce", 0, nullptr},
      {"AMD Radeon Graphics", 0, nullptr},
      {"RTX 9999", 0, nullptr},
      {"NVIDIA GeForce RTX 9999", 24, nullptr},
      {"RTX 40", 0, nullptr},
      {"RTX", 0, nullptr},
      {"4090 RTX", 0, nullptr},
      {"NVIDIA GeForce RTX 4090 D", 23.99, nullptr},
      {"NVIDIA GeForce RTX 4090D", 23.99, nullptr},
      {"NVIDIA GeForce RTX 4060 Ti Laptop GPU", 8, nullptr},
      {"NVIDIA GeForce RTX 3060 Laptop GPU", 6, nullptr},
      // A model sold with several memory sizes needs the memory...
      {"NVIDIA GeForce RTX 4060 Ti", 0, nullptr},
      {"NVIDIA GeForce RTX 3060", 0, nullptr},
      {"Intel(R) Arc(TM) A770 Graphics", 0, nullptr},
      // ...and memory that fits one of them.
      {"NVIDIA GeForce RTX 4060 Ti", 12, nullptr},
      {"NVIDIA GeForce RTX 4060 Ti", 4, nullptr},
      {"RTX 4060 Ti 12GB", 0, nullptr},
      {"RTX 4060 Ti 16GB", 7.996, nullptr},
      // More memory than the row has is another model (a 48 GB RTX 4090).
      {"NVIDIA GeForce RTX 4090", 47.99, nullptr},
      {"RTX 4090 48GB", 0, nullptr},
      {"NVIDIA GeForce RTX 4060", 15.99, nullptr},
      // PCIe and SXM differ in bandwidth: "A100" or "H100" alone says neither.
      {"NVIDIA A100", 79.15, nullptr},
      {"NVIDIA A100 80GB", 79.15, nullptr},
      {"NVIDIA H100", 79.65, nullptr},
      {"A100 SXM4", 0, nullptr},
      // A MIG slice has a fraction of the GPU.
      {"NVIDIA A100-SXM4-80GB MIG 1g.10gb", 9.5, nullptr},
      {"NVIDIA H100 80GB HBM3 MIG 3g.40gb", 39.5, nullptr},
      // Other generations that share words.
      {"Quadro RTX 6000", 24, nullptr},
      {"NVIDIA RTX 6000", 47.99, nullptr},
      {"Apple M5", 16, nullptr},
      {"Apple M2 Extreme", 0, nullptr},
  };
  for (const DriverName& c : cases) {
    EXPECT_EQ(Matched(c.reported, GiB(c.memory_gib)), c.expected == nullptr ? "(none)" : c.expected)
        << "'" << c.reported << "' with " << c.memory_gib << " GiB";
  }
}

TEST(HardwareTableTest, SimilarNamesStayApart) {
  EXPECT_EQ(Matched("NVIDIA GeForce RTX 4060", GiB(7.996)), "NVIDIA GeForce RTX 4060");
  EXPECT_EQ(Matched("NVIDIA GeForce RTX 4080", GiB(15.99)), "NVIDIA GeForce RTX 4080");
  EXPECT_EQ(Matched("NVIDIA GeForce RTX 4070 Ti", GiB(11.99)), "NVIDIA GeForce RTX 4070 Ti");
  EXPECT_EQ(Matched("NVIDIA GeForce RTX 4070 Ti SUPER", GiB(15.99)),
            "NVIDIA GeForce RTX 4070 Ti SUPER");
  EXPECT_EQ(Matched("NVIDIA L40", GiB(44.99)), "NVIDIA L40");
  EXPECT_EQ(Matched("NVIDIA L40S", GiB(44.99)), "NVIDIA L40S");
  EXPECT_EQ(Matched("AMD Radeon RX 7900 XT"), "AMD Radeon RX 7900 XT");
  EXPECT_EQ(Matched("AMD Radeon RX 7900 XTX"), "AMD Radeon RX 7900 XTX");
  EXPECT_EQ(Matched("AMD Radeon RX 9070"), "AMD Radeon RX 9070");
  EXPECT_EQ(Matched("Apple M2"), "Apple M2");
  EXPECT_EQ(Matched("Apple M2 Pro"), "Apple M2 Pro");
}

TEST(HardwareTableTest, CanonicalNameOfAKnownDeviceIsItsRow) {
  EXPECT_EQ(CanonicalDeviceName("NVIDIA GeForce RTX 4090", GiB(23.99)), "NVIDIA GeForce RTX 4090");
  EXPECT_EQ(CanonicalDeviceName("NVIDIA GeForce RTX 4060 Ti", GiB(15.996)),
            "NVIDIA GeForce RTX 4060 Ti 16GB");
  EXPECT_EQ(CanonicalDeviceName("NVIDIA GeForce RTX 4060 Ti", GiB(7.996)),
            "NVIDIA GeForce RTX 4060 Ti 8GB");
  EXPECT_EQ(CanonicalDeviceName("Intel(R) Arc(TM) A770 Graphics", GiB(15.91)),
            "Intel Arc A770 16GB");
  EXPECT_EQ(CanonicalDeviceName("Tesla V100-SXM2-32GB", GiB(31.74)), "NVIDIA V100 SXM2 32GB");
  EXPECT_EQ(CanonicalDeviceName("Apple M3 Max", 0), "Apple M3 Max");
}

TEST(HardwareTableTest, CanonicalNameOfAnUnknownDeviceIsNormalizedWithItsMemory) {
  EXPECT_EQ(CanonicalDeviceName("NVIDIA GeForce RTX 9999", GiB(23.99)), "GeForce RTX 9999 (24 GB)");
  EXPECT_EQ(CanonicalDeviceName("  NVIDIA   GeForce\tRTX 9999 ", 0), "GeForce RTX 9999");
  EXPECT_EQ(CanonicalDeviceName("Intel(R) UHD Graphics 770", 0), "UHD Graphics 770");
  EXPECT_EQ(CanonicalDeviceName("Intel(R) Core(TM) i9-13900K", GiB(64)), "Core i9-13900K (64 GB)");
  EXPECT_EQ(CanonicalDeviceName("AMD Radeon™ 780M Graphics", GiB(8)),
            "Radeon 780M Graphics (8 GB)");
  EXPECT_EQ(CanonicalDeviceName("Apple M5", GiB(16)), "M5 (16 GB)");
  // The same unknown GPU with different memory stays apart; spellings that
  // differ only in marks, vendor prefix and spacing meet.
  EXPECT_NE(CanonicalDeviceName("NVIDIA GeForce RTX 9999", GiB(16)),
            CanonicalDeviceName("NVIDIA GeForce RTX 9999", GiB(32)));
  EXPECT_EQ(CanonicalDeviceName("NVIDIA(R) GeForce(TM) RTX 9999", GiB(16)),
            CanonicalDeviceName("GeForce RTX  9999", GiB(15.99)));
  // Ambiguous memory variants are not guessed.
  EXPECT_EQ(CanonicalDeviceName("NVIDIA GeForce RTX 4060 Ti", 0), "GeForce RTX 4060 Ti");
  EXPECT_EQ(CanonicalDeviceName("NVIDIA GeForce RTX 4090", GiB(47.99)), "GeForce RTX 4090 (48 GB)");
}

TEST(HardwareTableTest, CanonicalNameOfNothingIsUnknown) {
  EXPECT_EQ(CanonicalDeviceName("", 0), "unknown");
  EXPECT_EQ(CanonicalDeviceName("", GiB(8)), "unknown");
  EXPECT_EQ(CanonicalDeviceName("   ", 0), "unknown");
  EXPECT_EQ(CanonicalDeviceName("NVIDIA", 0), "unknown");
  EXPECT_EQ(CanonicalDeviceName("(R)", 0), "unknown");
}

TEST(HardwareTableTest, ConcurrentMatchingIsSafe) {
  std::vector<std::thread> threads;
  std::vector<const HardwareSpec*> found(8, nullptr);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t, &found] {
      for (int i = 0; i < 200; ++i) found[t] = MatchHardware("NVIDIA GeForce RTX 4090");
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const HardwareSpec* row : found) EXPECT_EQ(row, found[0]);
  ASSERT_NE(found[0], nullptr);
}

// ---- ParseHardwareTable

constexpr std::string_view kHeader =
    "name,vendor,family,memory_gib,memory_bandwidth_gbs,fp16_tflops,aliases,source\n";
constexpr std::string_view kRow4090 =
    "NVIDIA GeForce RTX 4090,NVIDIA,ada,24,1008,330.3,RTX 4090|4090,Ada whitepaper\n";
constexpr std::string_view kRow4060Ti8 =
    "NVIDIA GeForce RTX 4060 Ti 8GB,NVIDIA,ada,8,288,88.3,4060 Ti 8GB,spec page\n";
constexpr std::string_view kRow4060Ti16 =
    "NVIDIA GeForce RTX 4060 Ti 16GB,NVIDIA,ada,16,288,88.3,4060 Ti 16GB,spec page\n";

// A table of a comment, the header and the 4090 row (line 3), then `rows`
// from line 4 on.
std::string Table(std::string_view rows) {
  return std::string("# comment\n") + std::string(kHeader) + std::string(kRow4090) +
         std::string(rows);
}

void ExpectRejected(std::string_view csv, std::string_view message_part) {
  absl::StatusOr<std::vector<HardwareSpec>> parsed = ParseHardwareTable(csv);
  ASSERT_FALSE(parsed.ok()) << csv;
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(message_part)) << csv;
}

TEST(ParseHardwareTableTest, ParsesRowsCommentsAndBlankLines) {
  absl::StatusOr<std::vector<HardwareSpec>> parsed =
      ParseHardwareTable(Table(std::string("\n# variants\r\n") + std::string(kRow4060Ti8) + "  \n" +
                               std::string(kRow4060Ti16)));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 3u);
  const HardwareSpec& row = (*parsed)[0];
  EXPECT_EQ(row.name, "NVIDIA GeForce RTX 4090");
  EXPECT_EQ(row.vendor, "NVIDIA");
  EXPECT_EQ(row.family, "ada");
  EXPECT_EQ(row.memory_bytes, int64_t{24} << 30);
  EXPECT_DOUBLE_EQ(row.memory_bandwidth, 1008e9);
  EXPECT_DOUBLE_EQ(row.fp16_flops, 330.3e12);
  EXPECT_EQ(row.aliases, (std::vector<std::string>{"RTX 4090", "4090"}));
  EXPECT_EQ(row.source, "Ada whitepaper");
  EXPECT_EQ((*parsed)[2].name, "NVIDIA GeForce RTX 4060 Ti 16GB");
}

TEST(ParseHardwareTableTest, AcceptsARowWithoutAliases) {
  absl::StatusOr<std::vector<HardwareSpec>> parsed =
      ParseHardwareTable(Table("NVIDIA T4,NVIDIA,turing,16,320,65,,T4 datasheet\n"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE((*parsed)[1].aliases.empty());
}

TEST(ParseHardwareTableTest, RejectsAMissingHeaderOrNoRows) {
  ExpectRejected("", "no header");
  ExpectRejected("# only a comment\n", "no header");
  ExpectRejected(std::string(kRow4090), "line 1: expected the header");
  ExpectRejected("# c\nname,vendor,family\n", "line 2: expected the header");
  ExpectRejected(kHeader, "no rows");
}

TEST(ParseHardwareTableTest, RejectsAWrongFieldCount) {
  ExpectRejected(Table("NVIDIA T4,NVIDIA,turing,16,320,65,T4\n"), "line 4: 7 fields");
  ExpectRejected(Table("NVIDIA T4,NVIDIA,turing,16,320,65,T4,a,b\n"), "line 4: 9 fields");
}

TEST(ParseHardwareTableTest, RejectsEmptyRequiredFields) {
  ExpectRejected(Table(",NVIDIA,turing,16,320,65,T4,src\n"), "line 4, column 1 (name): empty");
  ExpectRejected(Table("NVIDIA T4,,turing,16,320,65,T4,src\n"), "line 4, column 2 (vendor)");
  ExpectRejected(Table("NVIDIA T4,NVIDIA,,16,320,65,T4,src\n"), "line 4, column 3 (family)");
  ExpectRejected(Table("NVIDIA T4,NVIDIA,turing,16,320,65,T4,\n"), "line 4, column 8 (source)");
  ExpectRejected(Table("NVIDIA T4,NVIDIA,Turing,16,320,65,T4,src\n"),
                 "line 4, column 3 (family): 'Turing'");
}

TEST(ParseHardwareTableTest, RejectsFiguresThatAreNotPositiveNumbers) {
  ExpectRejected(Table("NVIDIA T4,NVIDIA,turing,sixteen,320,65,T4,src\n"),
                 "line 4, column 4 (memory_gib): 'sixteen' is not a positive number");
  ExpectRejected(Table("NVIDIA T4,NVIDIA,turing,16,0,65,T4,src\n"),
                 "line 4, column 5 (memory_bandwidth_gbs)");
  ExpectRejected(Table("NVIDIA T4,NVIDIA,turing,16,320,-65,T4,src\n"),
                 "line 4, column 6 (fp16_tflops)");
  ExpectRejected(Table("NVIDIA T4,NVIDIA,turing,16,320,nan,T4,src\n"),
                 "line 4, column 6 (fp16_tflops)");
  ExpectRejected(Table("NVIDIA T4,NVIDIA,turing,16,inf,65,T4,src\n"),
                 "line 4, column 5 (memory_bandwidth_gbs)");
  ExpectRejected(Table("NVIDIA T4,NVIDIA,turing,16,320,65 TFLOPS,T4,src\n"),
                 "line 4, column 6 (fp16_tflops)");
  ExpectRejected(Table("NVIDIA T4,NVIDIA,turing,,320,65,T4,src\n"),
                 "line 4, column 4 (memory_gib)");
}

TEST(ParseHardwareTableTest, RejectsAnEmptyAlias) {
  ExpectRejected(Table("NVIDIA T4,NVIDIA,turing,16,320,65,T4||Tesla T4,src\n"),
                 "line 4, column 7 (aliases): empty alias");
  ExpectRejected(Table("NVIDIA T4,NVIDIA,turing,16,320,65,T4|,src\n"),
                 "line 4, column 7 (aliases): empty alias");
}

TEST(ParseHardwareTableTest, RejectsANameWithNothingToMatch) {
  ExpectRejected(Table("NVIDIA GeForce,NVIDIA,ada,8,288,88,,src\n"),
                 "line 4, column 1 (name): 'NVIDIA GeForce' has no word left");
  ExpectRejected(Table("NVIDIA T4,NVIDIA,turing,16,320,65,T4|(TM),src\n"),
                 "line 4, column 7 (aliases): '(TM)' has no word left");
}

TEST(ParseHardwareTableTest, RejectsADuplicateName) {
  ExpectRejected(Table(kRow4090), "line 4, column 1 (name)");
  // The same name in another spelling is the same name.
  ExpectRejected(Table("GeForce RTX-4090,NVIDIA,ada,24,1008,330.3,,src\n"),
                 "already a name or alias of line 3");
}

TEST(ParseHardwareTableTest, RejectsAnAliasClashingAcrossRows) {
  ExpectRejected(Table("NVIDIA GeForce RTX 4090 D,NVIDIA,ada,24,1008,294,RTX 4090,src\n"),
                 "line 4, column 7 (aliases): 'RTX 4090' reads as 'rtx 4090', which is already "
                 "a name or alias of line 3");
  ExpectRejected(Table("NVIDIA GeForce RTX 4090 D,NVIDIA,ada,24,1008,294,4090D|NVIDIA 4090,src\n"),
                 "line 4, column 7 (aliases)");
}

TEST(ParseHardwareTableTest, RejectsAnAliasThatIsAnotherRowsNameApartFromMemory) {
  // "RTX 4060 Ti" on the 16 GB row would take every 8 GB card.
  ExpectRejected(Table(std::string(kRow4060Ti8) +
                       "NVIDIA GeForce RTX 4060 Ti 16GB,NVIDIA,ada,16,288,88.3,RTX 4060 Ti,src\n"),
                 "line 5, column 7 (aliases): 'rtx 4060 ti' is also the name, apart from memory, "
                 "of line 4");
}

TEST(ParseHardwareTableTest, RejectsMemoryVariantsTooCloseToTellApart) {
  ExpectRejected(Table(std::string(kRow4060Ti8) +
                       "NVIDIA GeForce RTX 4060 Ti 8 GB,NVIDIA,ada,8,288,88.3,,src\n"),
                 "line 5, column 1 (name)");
  ExpectRejected(Table("NVIDIA H100 94GB,NVIDIA,hopper,94,3900,835,,src\n"
                       "NVIDIA H100 96GB,NVIDIA,hopper,96,4000,989,,src\n"),
                 "line 5, column 1 (name): 'NVIDIA H100 96GB' and line 4");
}

TEST(ParseHardwareTableTest, RejectsANameWhoseMemoryDisagreesWithItsColumn) {
  ExpectRejected(Table("NVIDIA GeForce RTX 4060 Ti 16GB,NVIDIA,ada,8,288,88.3,,src\n"),
                 "line 4, column 1 (name): the name says 16 GB but memory_gib is 8");
}

}  // namespace
}  // namespace aiscore
