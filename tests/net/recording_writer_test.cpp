// The recording writer thread (recording_writer.hpp): bytes land in submission order, files
// written concurrently stay apart, the queue bound holds the producer back, a failed write is
// reported on the next submit, and a Recording read back is the log it was given.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "kalmanscan/formats/record_file.hpp"
#include "kalmanscan/net/error.hpp"
#include "kalmanscan/net/recording.hpp"
#include "kalmanscan/net/recording_writer.hpp"
#include "net_test_support.hpp"

namespace kalmanscan::net {
namespace {

using namespace std::chrono_literals;

using testing::TempDir;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int create(const std::filesystem::path& p) { return ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); }

TEST(RecordingWriter, FilesGetTheirBytesInSubmissionOrder) {
  TempDir dir;
  std::string expected[3];
  {
    RecordingWriter w(1000);  // small: the producer waits for the thread now and then
    std::shared_ptr<RecordingWriter::File> files[3];
    for (int f = 0; f < 3; ++f) files[f] = w.adopt(create(dir.path / std::to_string(f)), dir.path / std::to_string(f));
    for (int i = 0; i < 5000; ++i) {
      const int f = (i * 7) % 3;
      std::string bytes = std::to_string(f);  // "<f:i>", appended piece by piece (GCC 12's -Wrestrict
      bytes.insert(0, 1, '<');                  // misfires on chained string concatenation)
      bytes.append(1, ':').append(std::to_string(i)).append(1, '>');
      expected[f] += bytes;
      w.submit(files[f], bytes);
      EXPECT_TRUE(bytes.empty());
    }
    for (auto& f : files) w.close(f);
    w.finish();
  }
  for (int f = 0; f < 3; ++f) EXPECT_EQ(slurp(dir.path / std::to_string(f)), expected[f]) << "file " << f;
}

TEST(RecordingWriter, TheQueueBoundHoldsTheProducerBackUntilTheWriterCatchesUp) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  RecordingWriter w(100);
  const auto file = w.adopt(fds[1], "pipe");
  // Fill the pipe: the writer thread blocks in write(2) on it, with 1 MiB taken.
  std::string big(1 << 20, 'x');
  w.submit(file, big);
  // The queue is over its bound, so the next submit must wait for the writer.
  auto blocked = std::async(std::launch::async, [&] {
    std::string more = "tail";
    w.submit(file, more);
  });
  EXPECT_EQ(blocked.wait_for(200ms), std::future_status::timeout) << "submit did not wait for the full queue";
  // Read everything: the writer finishes the big write, and the waiting submit goes through.
  std::string got;
  char buf[65536];
  while (got.size() < (1u << 20) + 4) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<std::size_t>(n));
    if (got.size() == (1u << 20)) {
      EXPECT_EQ(blocked.wait_for(10s), std::future_status::ready);
    }
  }
  blocked.get();
  EXPECT_EQ(got.substr(got.size() - 4), "tail");
  EXPECT_EQ(got.find_first_not_of('x'), std::size_t(1) << 20);
  w.finish();
  ::close(fds[0]);
}

TEST(RecordingWriter, AFailedWriteIsReportedOnTheNextSubmit) {
  TempDir dir;
  const auto path = dir.path / "read-only";
  { std::ofstream(path) << ""; }
  RecordingWriter w(1 << 20);
  const auto file = w.adopt(::open(path.c_str(), O_RDONLY | O_CLOEXEC), path);  // write(2) fails: EBADF
  std::string bytes = "record";
  w.submit(file, bytes);
  w.finish();  // the thread has tried (later calls run here)
  std::string more = "more";
  try {
    w.submit(file, more);
    FAIL() << "no error after a failed write";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), proto::ERROR_RECORDING);
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("write failed"), std::string::npos) << e.what();
  }
}

TEST(RecordingWriter, ARecordingReadsBackAsTheLogItWasGivenAfterTheWriterFinished) {
  TempDir dir;
  const auto records = testing::cv_track(300, 3);
  RecordingWriter w(256);
  Recording rec(w, dir.path / "s", testing::cv_spec(), "test");
  for (std::size_t i = 0; i < records.size(); ++i) {
    rec.append(records[i]);
    if (i % 7 == 0) rec.flush();
  }
  rec.close();
  w.finish();
  formats::RecordReader reader(formats::open_file_source(dir.path / "s.ksrec"), proto::RecordFileHeader::LOG);
  proto::LogRecord r;
  std::size_t n = 0;
  for (; reader.next(r); ++n) ASSERT_EQ(r.SerializeAsString(), records.at(n).SerializeAsString()) << "record " << n;
  EXPECT_EQ(n, records.size());
  EXPECT_FALSE(reader.truncated());
}

}  // namespace
}  // namespace kalmanscan::net
