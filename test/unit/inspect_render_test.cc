// `vproc inspect`'s rendering (tools/inspect_render.h) of the kinds of fds a
// checkpoint saves: a pipe's buffered bytes and size, an eventfd's counter, an
// epoll instance's registrations, in the text and in the JSON.
#include <catch2/catch.hpp>
#include <string>

#include "image_builder.h"
#include "inspect_render.h"

using namespace vproc;
using vproc::test::ImageBuilder;

namespace {

tools::InspectReport report_of(const image::Image& img) {
  tools::InspectReport r;
  r.path = "/images/sample.vpimg";
  r.image = &img;
  r.files.resize(img.files.size());
  r.stacks.resize(img.threads.size());
  return r;
}

}  // namespace

TEST_CASE("inspect: pipes, eventfds and epoll instances in the text") {
  ImageBuilder b = ImageBuilder::sample();
  image::Image img;
  b.build(test::Defect::None, &img);
  std::string text = tools::render_inspect_text(report_of(img));
  CHECK_THAT(text, Catch::Contains("fds: 10\n"));
  CHECK_THAT(text, Catch::Contains("    8 pipe        pipe:[5678] (flags 04000, offset 0, 8 bytes buffered, size 65536)\n"));
  CHECK_THAT(text, Catch::Contains("    9 pipe        pipe:[5678] (flags 01, offset 0, 8 bytes buffered, size 65536)\n"));
  CHECK_THAT(text, Catch::Contains("   10 eventfd     anon_inode:[eventfd] (flags 04002, offset 0, counter 4886718345, "
                                   "semaphore)\n"));
  CHECK_THAT(text, Catch::Contains("   11 epoll       anon_inode:[eventpoll] (flags 02000002, offset 0)\n"
                                   "      watches fd 8: events 0x80000019 (IN ERR HUP ET), data 0x1122334455667788\n"
                                   "      watches fd 10: events 0x40000000 (ONESHOT), data 0x7\n"));
}

TEST_CASE("inspect: pipes, eventfds and epoll instances in the JSON") {
  ImageBuilder b = ImageBuilder::sample();
  image::Image img;
  b.build(test::Defect::None, &img);
  std::string json = tools::render_inspect_json(report_of(img));
  CHECK_THAT(json, Catch::Contains(R"({"fd":8,"kind":"pipe","path":"pipe:[5678]","flags":2048,"offset":0,)"
                                   R"("same_as":-1,"pipe_size":65536,"buffered":8})"));
  CHECK_THAT(json, Catch::Contains(R"("kind":"eventfd",)"));
  CHECK_THAT(json, Catch::Contains(R"("eventfd_count":4886718345,"semaphore":true})"));
  CHECK_THAT(json, Catch::Contains(R"("watches":[{"fd":8,"events":2147483673,"data":"0x1122334455667788"},)"
                                   R"({"fd":10,"events":1073741824,"data":"0x7"}]})"));
  CHECK_THAT(json, Catch::Contains(R"({"fd":7,"kind":"dev-null","path":"/dev/null","flags":0,"offset":0,"same_as":-1})"));
}
