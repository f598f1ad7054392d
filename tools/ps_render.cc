#include "ps_render.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "json_text.h"

namespace vproc::tools {

void sort_for_display(std::vector<wire::ProcessEntry>& entries) {
  // A process's tgid is its own vpid, so (tgid, thread, vpid) puts each process
  // right before its threads; 0 (a daemon that sends none) means "itself".
  auto key = [](const wire::ProcessEntry& e) {
    return std::make_tuple(e.tgid ? e.tgid : e.vpid, e.thread, e.vpid);
  };
  std::stable_sort(entries.begin(), entries.end(),
                   [&](const wire::ProcessEntry& a, const wire::ProcessEntry& b) { return key(a) < key(b); });
}

std::string format_start_time(uint64_t start_time_ms, time_t now) {
  time_t start = time_t(start_time_ms / 1000);
  tm s{}, n{};
  localtime_r(&start, &s);
  localtime_r(&now, &n);
  char buf[32];
  if (s.tm_year == n.tm_year && s.tm_yday == n.tm_yday)
    strftime(buf, sizeof buf, "%H:%M:%S", &s);
  else
    strftime(buf, sizeof buf, "%b%d", &s);
  return buf;
}

std::string command_text(const wire::ProcessEntry& e) {
  std::string out;
  for (const std::string& a : e.argv) {
    if (!out.empty()) out += ' ';
    for (unsigned char c : a) out += (c < 0x20 || c == 0x7f) ? '?' : char(c);
  }
  if (out.empty()) out = "-";
  if (e.state == "zombie") out += " <defunct>";
  return out;
}

std::string render_table(const std::vector<wire::ProcessEntry>& entries, const TableOptions& opt) {
  struct Column {
    const char* title;
    bool right;  // numbers align right, as in ps
  };
  std::vector<Column> cols{{"VPID", true}};
  if (opt.threads) cols.push_back({"TGID", true});
  for (Column c : {Column{"NODE", false}, Column{"PID", true}, Column{"PPID", true}, Column{"STATE", false},
                   Column{"UID", false}, Column{"START", false}, Column{"CMD", false}})
    cols.push_back(c);

  std::vector<std::vector<std::string>> rows;
  rows.emplace_back();
  for (const Column& c : cols) rows.back().push_back(c.title);
  for (const wire::ProcessEntry& e : entries) {
    std::vector<std::string> r{std::to_string(e.vpid)};
    if (opt.threads) r.push_back(std::to_string(e.tgid ? e.tgid : e.vpid));
    r.push_back(e.node_name);
    r.push_back(std::to_string(e.real));
    r.push_back(std::to_string(e.parent));
    r.push_back(e.state);
    r.push_back(opt.user_name ? opt.user_name(e.uid) : std::to_string(e.uid));
    r.push_back(format_start_time(e.start_time_ms, opt.now));
    r.push_back(command_text(e));
    rows.push_back(std::move(r));
  }

  std::vector<size_t> width(cols.size(), 0);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());

  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      bool last = i + 1 == r.size();
      size_t pad = width[i] - r[i].size();
      if (i) line += ' ';
      if (cols[i].right) line.append(pad, ' ');
      line += r[i];
      if (!cols[i].right && !last) line.append(pad, ' ');
    }
    out += line;
    out += '\n';
  }
  return out;
}

std::string render_json(const std::vector<wire::ProcessEntry>& entries) {
  std::string out = "[";
  for (size_t i = 0; i < entries.size(); ++i) {
    const wire::ProcessEntry& e = entries[i];
    out += i ? ",\n  " : "\n  ";
    out += "{\"vpid\":" + std::to_string(e.vpid);
    out += ",\"node\":";
    append_json_string(out, e.node_name);
    out += ",\"node_index\":" + std::to_string(e.node_index);
    out += ",\"pid\":" + std::to_string(e.real);
    out += ",\"ppid\":" + std::to_string(e.parent);
    out += ",\"state\":";
    append_json_string(out, e.state);
    out += ",\"uid\":" + std::to_string(e.uid);
    out += ",\"start_time_ms\":" + std::to_string(e.start_time_ms);
    out += ",\"argv\":[";
    for (size_t j = 0; j < e.argv.size(); ++j) {
      if (j) out += ',';
      append_json_string(out, e.argv[j]);
    }
    out += "],\"thread\":";
    out += e.thread ? "true" : "false";
    out += ",\"tgid\":" + std::to_string(e.tgid ? e.tgid : e.vpid);
    out += '}';
  }
  out += entries.empty() ? "]\n" : "\n]\n";
  return out;
}

}  // namespace vproc::tools
