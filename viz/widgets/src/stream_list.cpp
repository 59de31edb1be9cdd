#include "kalmanscan/viz/widgets/stream_list.hpp"

#include <algorithm>

namespace kalmanscan::viz {

namespace {
constexpr int name_role = Qt::UserRole;     // the stream's name (the text also says "(closed)")
constexpr int closed_role = Qt::UserRole + 1;
}  // namespace

std::string stream_of_panel(const std::string& panel) {
  const auto slash = panel.rfind('/');
  return slash == std::string::npos ? panel : panel.substr(0, slash);
}

StreamList::StreamList(QWidget* parent) : QListWidget(parent) {
  connect(this, &QListWidget::itemChanged, this, [this](QListWidgetItem*) { emit shown_changed(); });
}

QListWidgetItem* StreamList::row(const std::string& stream) const {
  const QString name = QString::fromStdString(stream);
  for (int i = 0; i < count(); ++i)
    if (item(i)->data(name_role).toString() == name) return item(i);
  return nullptr;
}

void StreamList::update_streams(const std::vector<std::string>& announced, const std::vector<std::string>& closed) {
  // Text and closed flag change without emitting shown_changed (only check boxes do).
  const QSignalBlocker quiet(this);
  for (const std::string& stream : announced) {
    QListWidgetItem* r = row(stream);
    if (!r) {
      r = new QListWidgetItem(this);
      r->setData(name_role, QString::fromStdString(stream));
      r->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable);
      r->setCheckState(Qt::Checked);
    }
    const bool is_closed = std::find(closed.begin(), closed.end(), stream) != closed.end();
    r->setData(closed_role, is_closed);
    r->setText(QString::fromStdString(stream) + (is_closed ? QStringLiteral(" (closed)") : QString()));
    r->setForeground(is_closed ? palette().color(QPalette::Disabled, QPalette::Text) : palette().color(QPalette::Text));
  }
}

bool StreamList::set_shown(const std::string& stream, bool shown) {
  QListWidgetItem* r = row(stream);
  if (r) r->setCheckState(shown ? Qt::Checked : Qt::Unchecked);
  return r != nullptr;
}

bool StreamList::panel_shown(const std::string& panel) const {
  const QListWidgetItem* r = row(stream_of_panel(panel));
  return !r || r->checkState() == Qt::Checked;
}

bool StreamList::closed(const std::string& stream) const {
  const QListWidgetItem* r = row(stream);
  return r && r->data(closed_role).toBool();
}

}  // namespace kalmanscan::viz
