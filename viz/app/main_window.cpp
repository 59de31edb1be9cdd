#include "main_window.hpp"

#include <QAction>
#include <QApplication>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QMessageBox>
#include <QSpinBox>
#include <QStatusBar>
#include <QTabWidget>
#include <QTimer>
#include <QToolBar>
#include <fstream>

#include "kalmanscan/viz/error.hpp"
#include "kalmanscan/viz/export_csv.hpp"
#include "kalmanscan/viz/kla_heatmap.hpp"
#include "kalmanscan/viz/widgets/heatmap_view.hpp"
#include "kalmanscan/viz/widgets/plot_canvas.hpp"
#include "kalmanscan/viz/widgets/stream_list.hpp"

namespace kalmanscan::viz {

QString set_endpoint(LiveOptions& options, const QString& host_port) {
  const qsizetype colon = host_port.lastIndexOf(':');
  bool ok = false;
  const uint port = colon > 0 ? host_port.mid(colon + 1).toUInt(&ok) : 0;
  if (!ok || port == 0 || port > 65535)
    return QStringLiteral("expected host:port with a port in 1..65535, found '%1'").arg(host_port);
  options.host = host_port.left(colon).toStdString();
  options.port = static_cast<std::uint16_t>(port);
  return {};
}

MainWindow::MainWindow(std::size_t memory_budget_bytes, QString kalmanscan_program)
    : budget_(memory_budget_bytes), kalmanscan_(std::move(kalmanscan_program)) {
  const SeriesOptions options{.memory_budget = budget_};
  offline_ = std::make_unique<SeriesSet>(options);
  live_ = std::make_unique<SeriesSet>(options);
  build_ui();
  offline_->on_change([c = offline_canvas_] { c->notify_data_changed(); });
  live_->on_change([c = live_canvas_] { c->notify_data_changed(); });
}

MainWindow::~MainWindow() {
  // Writers end before the sets and canvases they feed.
  live_source_.reset();
  for (auto& w : workers_) w.join();
  offline_->on_change({});
  live_->on_change({});
}

void MainWindow::build_ui() {
  setWindowTitle(QStringLiteral("kalmanscan dashboard"));
  tabs_ = new QTabWidget(this);
  offline_canvas_ = new PlotCanvas(*offline_);
  live_canvas_ = new PlotCanvas(*live_);
  auto* kla_page = new QWidget;
  auto* kla_layout = new QVBoxLayout(kla_page);
  auto* kla_bar = new QHBoxLayout;
  kla_sequence_ = new QSpinBox;
  kla_layer_ = new QSpinBox;
  kla_bar->addWidget(new QLabel(QStringLiteral("sequence")));
  kla_bar->addWidget(kla_sequence_);
  kla_bar->addWidget(new QLabel(QStringLiteral("KLA layer")));
  kla_bar->addWidget(kla_layer_);
  kla_bar->addStretch();
  heatmap_ = new HeatmapView;
  kla_layout->addLayout(kla_bar);
  kla_layout->addWidget(heatmap_, 1);
  const auto reshow = [this] { show_kla(kla_sequence_->value(), kla_layer_->value()); };
  connect(kla_sequence_, &QSpinBox::valueChanged, this, reshow);
  connect(kla_layer_, &QSpinBox::valueChanged, this, reshow);
  tabs_->addTab(offline_canvas_, QStringLiteral("Offline"));
  tabs_->addTab(live_canvas_, QStringLiteral("Live"));
  tabs_->addTab(kla_page, QStringLiteral("KLA uncertainty"));
  setCentralWidget(tabs_);
  stream_list_ = new StreamList;
  streams_dock_ = new QDockWidget(QStringLiteral("Streams"), this);
  streams_dock_->setWidget(stream_list_);
  addDockWidget(Qt::RightDockWidgetArea, streams_dock_);
  streams_dock_->hide();  // until connected
  live_canvas_->set_panel_filter([list = stream_list_](const std::string& panel) { return list->panel_shown(panel); });
  connect(stream_list_, &StreamList::shown_changed, live_canvas_, qOverload<>(&QWidget::update));

  QToolBar* bar = addToolBar(QStringLiteral("main"));
  bar->setMovable(false);
  bar->addAction(QStringLiteral("Open…"), this, &MainWindow::open_dialog);
  bar->addAction(QStringLiteral("Smooth…"), this, &MainWindow::smooth_dialog);
  bar->addAction(QStringLiteral("Connect…"), this, &MainWindow::connect_dialog);
  bar->addAction(QStringLiteral("KLA export…"), this, &MainWindow::kla_dialog);
  bar->addSeparator();
  pause_ = bar->addAction(QStringLiteral("Pause"));
  pause_->setCheckable(true);
  connect(pause_, &QAction::toggled, this, [this](bool on) {
    if (auto* c = current_canvas()) c->set_paused(on);
  });
  follow_ = bar->addAction(QStringLiteral("Follow live"));
  follow_->setCheckable(true);
  connect(follow_, &QAction::toggled, this, [this](bool on) {
    if (auto* c = current_canvas()) c->set_follow(on);
  });
  bar->addAction(QStringLiteral("Fit"), this, [this] {
    if (auto* c = current_canvas()) c->fit_all();
  });
  bar->addSeparator();
  bar->addAction(QStringLiteral("Export CSV…"), this, &MainWindow::export_dialog);
  bar->addAction(QStringLiteral("Save PNG…"), this, &MainWindow::snapshot_dialog);
  // The toolbar's toggles show the state of the view in front.
  connect(tabs_, &QTabWidget::currentChanged, this, [this] {
    const PlotCanvas* c = current_canvas();
    const QSignalBlocker b1(pause_), b2(follow_);
    pause_->setChecked(c && c->paused());
    follow_->setChecked(c && c->following());
  });
  for (PlotCanvas* c : {offline_canvas_, live_canvas_})
    connect(c, &PlotCanvas::follow_changed, this, [this, c](bool on) {
      if (c == current_canvas()) {
        const QSignalBlocker b(follow_);
        follow_->setChecked(on);
      }
    });
  status_ = new QLabel;
  statusBar()->addWidget(status_, 1);
  live_status_timer_ = new QTimer(this);
  live_status_timer_->setInterval(500);
  connect(live_status_timer_, &QTimer::timeout, this, &MainWindow::poll_live);
}

PlotCanvas* MainWindow::current_canvas() const {
  return qobject_cast<PlotCanvas*>(tabs_->currentWidget());
}

SeriesSet* MainWindow::current_set() {
  if (current_canvas() == offline_canvas_) return offline_.get();
  if (current_canvas() == live_canvas_) return live_.get();
  return nullptr;
}

void MainWindow::show_view(const QString& name) {
  if (name == QLatin1String("offline")) tabs_->setCurrentIndex(0);
  if (name == QLatin1String("live")) tabs_->setCurrentIndex(1);
  if (name == QLatin1String("kla")) tabs_->setCurrentIndex(2);
}

void MainWindow::report(const QString& message, bool error) {
  status_->setText(message);
  if (error) errors_ << message;
}

void MainWindow::run_in_background(std::function<void()> job) {
  ++running_;
  workers_.emplace_back([this, job = std::move(job)] {
    QString error;
    try {
      job();
    } catch (const std::exception& e) {
      error = QString::fromStdString(e.what());
    }
    QMetaObject::invokeMethod(
        this,
        [this, error] {
          --running_;
          if (!error.isEmpty()) report(error, true);
        },
        Qt::QueuedConnection);
  });
}

void MainWindow::open_offline(const OfflineInputs& in) {
  show_view(QStringLiteral("offline"));
  run_in_background([this, in] {
    std::vector<std::string> names;
    if (!in.model.isEmpty()) names = model_state_names(in.model.toStdString());
    QStringList lines;
    for (const QString& path : in.estimates) {
      const LoadReport r = load_estimates(path.toStdString(), *offline_, {.csv_role = in.csv_role, .state_names = names});
      lines << QStringLiteral("%1: %2 estimates").arg(QFileInfo(path).fileName()).arg(r.records);
      if (!r.warning.empty()) lines << QString::fromStdString(r.warning);
    }
    if (!in.log.isEmpty()) {
      if (in.model.isEmpty()) throw Error("a log needs its model (--model) to place measurements on state components");
      const LoadReport r = load_measurements(in.log.toStdString(), in.model.toStdString(), *offline_);
      lines << QStringLiteral("%1: %2 steps, %3 measurements drawn, %4 components not drawn (missing or mixing states)")
                   .arg(QFileInfo(in.log).fileName())
                   .arg(r.records)
                   .arg(r.points)
                   .arg(r.skipped);
      if (!r.warning.empty()) lines << QString::fromStdString(r.warning);
    }
    const QString text = lines.join(QStringLiteral("; "));
    QMetaObject::invokeMethod(this, [this, text] { report(text); }, Qt::QueuedConnection);
  });
}

void MainWindow::smooth(const QString& log, const QString& model) {
  smooth_dir_ = std::make_unique<QTemporaryDir>();
  const QString filtered = smooth_dir_->filePath(QStringLiteral("filtered.ksr"));
  const QString smoothed = smooth_dir_->filePath(QStringLiteral("smoothed.ksr"));
  const QStringList common = {QStringLiteral("smooth"), QStringLiteral("--model"), model, QStringLiteral("--input"), log,
                              QStringLiteral("--format"), QStringLiteral("records"), QStringLiteral("--quiet")};
  // Filtered first, then smoothed; then load both with the log.
  auto* process = new QProcess(this);
  ++running_;
  report(QStringLiteral("running %1 smooth (filter only) …").arg(kalmanscan_));
  auto step = std::make_shared<int>(0);
  connect(process, &QProcess::finished, this,
          [this, process, step, common, filtered, smoothed, log, model](int code, QProcess::ExitStatus status) {
            if (status != QProcess::NormalExit || code != 0) {
              report(QStringLiteral("kalmanscan smooth failed (exit %1): %2")
                         .arg(code)
                         .arg(QString::fromUtf8(process->readAllStandardError()).trimmed()),
                     true);
              --running_;
              process->deleteLater();
              return;
            }
            if ((*step)++ == 0) {
              report(QStringLiteral("running %1 smooth …").arg(kalmanscan_));
              process->start(kalmanscan_, common + QStringList{QStringLiteral("--output"), smoothed});
              return;
            }
            --running_;
            process->deleteLater();
            open_offline({log, model, {filtered, smoothed}, std::nullopt});
          });
  connect(process, &QProcess::errorOccurred, this, [this, process](QProcess::ProcessError e) {
    if (e != QProcess::FailedToStart) return;
    report(QStringLiteral("cannot start %1: %2").arg(kalmanscan_, process->errorString()), true);
    --running_;
    process->deleteLater();
  });
  process->start(kalmanscan_, common + QStringList{QStringLiteral("--filter-only"), QStringLiteral("--output"), filtered});
}

void MainWindow::open_kla(const QString& path, int sequence, int layer) {
  show_view(QStringLiteral("kla"));
  run_in_background([this, path, sequence, layer] {
    auto e = std::make_shared<proto::KlaUncertaintyExport>(read_kla_export(path.toStdString()));
    QMetaObject::invokeMethod(
        this,
        [this, e, sequence, layer] {
          kla_ = std::move(*e);
          const QSignalBlocker b1(kla_sequence_), b2(kla_layer_);
          kla_sequence_->setRange(0, std::max(0, kla_->sequences_size() - 1));
          kla_layer_->setRange(0, kla_->sequences_size() > 0 ? std::max(0, kla_->sequences(0).layers_size() - 1) : 0);
          kla_sequence_->setValue(sequence);
          kla_layer_->setValue(layer);
          show_kla(sequence, layer);  // the pick as asked: out of range, an error names it
        },
        Qt::QueuedConnection);
  });
}

void MainWindow::show_kla(int sequence, int layer) {
  if (!kla_) return;
  try {
    heatmap_->set_heatmap(kla_heatmap(*kla_, static_cast<std::size_t>(sequence), static_cast<std::size_t>(layer)));
    report(QString::fromStdString(heatmap_->heatmap()->title));
  } catch (const std::exception& e) {
    report(QString::fromStdString(e.what()), true);
  }
}

void MainWindow::connect_live(const LiveOptions& options) {
  show_view(QStringLiteral("live"));
  live_source_.reset();
  live_source_ = std::make_unique<LiveSource>(options, *live_);
  stream_list_->clear();
  streams_dock_->show();
  live_canvas_->set_follow(true);
  live_status_timer_->start();
  report(QStringLiteral("connecting to %1:%2 …").arg(QString::fromStdString(options.host)).arg(options.port));
}

void MainWindow::poll_live() {
  if (!live_source_) return;
  const LiveStatus s = live_source_->status();
  QString text = s.connected ? QStringLiteral("live: %1 estimates and %2 measurement points from %3 stream(s)")
                                 .arg(s.estimates)
                                 .arg(s.measurements)
                                 .arg(s.streams.size())
                             : QStringLiteral("live: disconnected");
  if (s.missed) text += QStringLiteral(", %1 dropped by the server").arg(s.missed);
  if (s.rejected) text += QStringLiteral(", %1 rejected").arg(s.rejected);
  if (!s.error.empty()) text += QStringLiteral(" — ") + QString::fromStdString(s.error);
  status_->setText(text);
  stream_list_->update_streams(s.streams, s.closed);
  // Streams asked to start hidden are unchecked once listed.
  std::erase_if(start_hidden_, [this](const std::string& name) { return stream_list_->set_shown(name, false); });
  if (s.finished) live_status_timer_->stop();
}

QStringList MainWindow::wait_idle() {
  while (running_ > 0) QApplication::processEvents(QEventLoop::AllEvents, 20);
  for (auto& w : workers_) w.join();
  workers_.clear();
  QApplication::processEvents();
  return errors_;
}

void MainWindow::hide_streams(std::vector<std::string> names) {
  start_hidden_ = std::move(names);
  poll_live();
}

void MainWindow::export_csv(const QString& path) {
  PlotCanvas* canvas = current_canvas();
  SeriesSet* set = current_set();
  if (!canvas || !set) throw Error("export CSV: the view in front has no time series");
  std::ofstream out(path.toStdString());
  if (!out) throw Error(path.toStdString() + ": cannot open for writing");
  auto lock = set->lock();
  write_visible_csv(out, lock, canvas->t0(), canvas->t1(), canvas->panel_filter());
}

void MainWindow::open_dialog() {
  OfflineInputs in;
  in.model = QFileDialog::getOpenFileName(this, QStringLiteral("Model spec (for the log's measurements)"));
  in.log = QFileDialog::getOpenFileName(this, QStringLiteral("Log (CSV or record file; cancel for none)"));
  in.estimates = QFileDialog::getOpenFileNames(this, QStringLiteral("Estimates (kalmanscan smooth output)"));
  if (std::any_of(in.estimates.begin(), in.estimates.end(), [](const QString& p) { return p.endsWith(".csv"); })) {
    const QString kind = QInputDialog::getItem(this, QStringLiteral("CSV estimates"), QStringLiteral("The CSV files hold"),
                                               {QStringLiteral("smoothed"), QStringLiteral("filtered")}, 0, false);
    in.csv_role = kind == QLatin1String("filtered") ? Role::filtered : Role::smoothed;
  }
  if (in.log.isEmpty()) in.log.clear();
  open_offline(in);
}

void MainWindow::smooth_dialog() {
  const QString model = QFileDialog::getOpenFileName(this, QStringLiteral("Model spec"));
  if (model.isEmpty()) return;
  const QString log = QFileDialog::getOpenFileName(this, QStringLiteral("Log"));
  if (!log.isEmpty()) smooth(log, model);
}

void MainWindow::kla_dialog() {
  const QString path = QFileDialog::getOpenFileName(this, QStringLiteral("KLA uncertainty export"));
  if (!path.isEmpty()) open_kla(path);
}

void MainWindow::connect_dialog() {
  bool ok = false;
  const QString where = QInputDialog::getText(this, QStringLiteral("Connect"), QStringLiteral("host:port"),
                                              QLineEdit::Normal, QStringLiteral("127.0.0.1:7878"), &ok);
  if (!ok) return;
  LiveOptions o;
  if (const QString why = set_endpoint(o, where.trimmed()); !why.isEmpty()) {
    report(QStringLiteral("connect: ") + why, true);
    return;
  }
  const QString streams = QInputDialog::getText(this, QStringLiteral("Streams"),
                                                QStringLiteral("stream names, comma-separated (empty = all)"),
                                                QLineEdit::Normal, QString(), &ok);
  if (!ok) return;
  for (const QString& s : streams.split(',', Qt::SkipEmptyParts)) o.streams.push_back(s.trimmed().toStdString());
  connect_live(o);
}

void MainWindow::export_dialog() {
  const QString path = QFileDialog::getSaveFileName(this, QStringLiteral("Export visible range"), QString(),
                                                    QStringLiteral("CSV (*.csv)"));
  if (path.isEmpty()) return;
  try {
    export_csv(path);
    report(QStringLiteral("wrote %1").arg(path));
  } catch (const std::exception& e) {
    report(QString::fromStdString(e.what()), true);
  }
}

void MainWindow::snapshot_dialog() {
  const QString path = QFileDialog::getSaveFileName(this, QStringLiteral("Save PNG"), QString(), QStringLiteral("PNG (*.png)"));
  if (path.isEmpty()) return;
  if (tabs_->currentWidget()->grab().save(path, "PNG"))
    report(QStringLiteral("wrote %1").arg(path));
  else
    report(QStringLiteral("%1: could not write the PNG").arg(path), true);
}

}  // namespace kalmanscan::viz
