#include "shell/table_text.h"

#include <fmt/format.h>

namespace bootmirror::shell {

namespace {
std::string rtrim(std::string line) {
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

std::string cell(const std::string& text, const Column& column) {
  switch (column.align) {
    case Column::Align::right: return fmt::format("{:>{}}", text, column.width);
    case Column::Align::center: return fmt::format("{:^{}}", text, column.width);
    default: return fmt::format("{:<{}}", text, column.width);
  }
}
}  // namespace

std::string render_table(const std::vector<Column>& columns, const std::vector<Row>& rows) {
  std::string heading = "  ", dashes = "  ";
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const char* gap = i ? "  " : "";
    heading += gap + fmt::format("{:<{}}", columns[i].heading, columns[i].width);
    dashes += gap + std::string(columns[i].width, '-');
  }
  std::string out = rtrim(heading) + "\n" + dashes;
  for (const Row& row : rows) {
    std::string line = row.selected ? "* " : "  ";
    for (std::size_t i = 0; i < columns.size(); ++i) line += (i ? "  " : "") + cell(row.cells.at(i), columns[i]);
    out += "\n" + rtrim(line);
  }
  return out;
}

}  // namespace bootmirror::shell
