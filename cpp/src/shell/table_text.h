// diskpart's list tables: a two-column marker ("* " on the selected row), columns two spaces apart,
// a row of dashes under the headings, trailing blanks trimmed.
#pragma once

#include <string>
#include <vector>

namespace bootmirror::shell {

struct Column {
  std::string heading;
  std::size_t width;
  enum class Align { left, right, center } align = Align::left;
};

struct Row {
  std::vector<std::string> cells;
  bool selected = false;
};

std::string render_table(const std::vector<Column>& columns, const std::vector<Row>& rows);

}  // namespace bootmirror::shell
