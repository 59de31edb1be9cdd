// The live view's stream picker: one checkable row per stream the server announced (in the order
// announced). Unchecking a stream hides its panels, checking shows them again; the data of a
// hidden stream keeps being ingested (the list only filters what is drawn). A stream the server
// closed stays in the list, marked "(closed)", so its plots can still be shown and hidden.
//
// Live panels are named "<stream>/<component>" (live_source.hpp): the stream is the text before
// the last '/'.
#pragma once

#include <QListWidget>
#include <string>
#include <vector>

namespace kalmanscan::viz {

/// The stream a live panel belongs to: the text before its last '/' (the whole name when none).
std::string stream_of_panel(const std::string& panel);

class StreamList : public QListWidget {
  Q_OBJECT
 public:
  explicit StreamList(QWidget* parent = nullptr);

  /// Adds the streams not listed yet (checked) and marks those in `closed` closed, the others
  /// open. Keeps the user's checks. Names may repeat; each is listed once.
  void update_streams(const std::vector<std::string>& announced, const std::vector<std::string>& closed);
  /// Checks or unchecks the row of `stream` (as a click on its box does); false when not listed.
  bool set_shown(const std::string& stream, bool shown);
  /// Whether the panel's stream is shown (panels of streams not listed are shown).
  bool panel_shown(const std::string& panel) const;
  bool closed(const std::string& stream) const;

 signals:
  /// A row was checked or unchecked.
  void shown_changed();

 private:
  QListWidgetItem* row(const std::string& stream) const;
};

}  // namespace kalmanscan::viz
