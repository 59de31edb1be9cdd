// The dashboard's window: three views in tabs — Offline (a log with its filtered and smoothed
// estimates, or `kalmanscan smooth` run as a subprocess), Live (estimates of a `serve`), and KLA
// (an uncertainty export as a heatmap) — with one toolbar: pause/resume, follow live, fit,
// export the visible range to CSV, save a PNG snapshot. While connected, a "Streams" dock lists every
// stream the server announced with a check box that shows or hides its live panels.
//
// Threads: files load and the network is read on worker threads that only touch the SeriesSets
// (series_set.hpp's locking rule); their results and errors reach the UI through queued calls.
#pragma once

#include <QMainWindow>
#include <QProcess>
#include <QTemporaryDir>
#include <QTimer>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "kalmanscan/kla_export.pb.h"
#include "kalmanscan/viz/live_source.hpp"
#include "kalmanscan/viz/loaders.hpp"
#include "kalmanscan/viz/series_set.hpp"

class QLabel;
class QTabWidget;
class QSpinBox;
class QAction;
class QDockWidget;

namespace kalmanscan::viz {

class PlotCanvas;
class HeatmapView;
class StreamList;

struct OfflineInputs {
  QString log, model;
  QStringList estimates;       ///< record files carry their kind; CSV files take csv_role
  std::optional<Role> csv_role;
};

/// Sets options.host and options.port from "host:port"; returns an empty string, or why the text
/// is not host:port with a port in 1..65535.
QString set_endpoint(LiveOptions& options, const QString& host_port);

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  MainWindow(std::size_t memory_budget_bytes, QString kalmanscan_program);
  ~MainWindow() override;

  /// Loads the offline inputs on a worker thread (returns at once).
  void open_offline(const OfflineInputs& in);
  /// Runs `kalmanscan smooth` twice (--filter-only, then smoothing) on the log and model, then loads
  /// both results with the log. Returns at once; errors show in the status bar.
  void smooth(const QString& log, const QString& model);
  /// Reads a KLA uncertainty export on a worker thread (returns at once), then shows `sequence`
  /// and KLA layer `layer` (an error when the export has no such sequence or layer).
  void open_kla(const QString& path, int sequence = 0, int layer = 0);
  void connect_live(const LiveOptions& options);
  /// The live source's status (a default one, not connected, before connect_live()).
  LiveStatus live_status() const { return live_source_ ? live_source_->status() : LiveStatus{}; }
  /// Unchecks these streams in the Streams list as soon as they are listed (their data is still received).
  void hide_streams(std::vector<std::string> names);
  /// Reads the live source's status into the status bar and the Streams list (also on a timer).
  void poll_live();
  /// Waits until every load and subprocess has finished (headless mode). Returns the errors seen.
  QStringList wait_idle();
  /// Shows the tab `name` (offline | live | kla).
  void show_view(const QString& name);
  PlotCanvas* offline_canvas() const { return offline_canvas_; }
  PlotCanvas* live_canvas() const { return live_canvas_; }
  StreamList* stream_list() const { return stream_list_; }
  /// Writes the visible range of the current plot view as CSV.
  void export_csv(const QString& path);

 private:
  void build_ui();
  void run_in_background(std::function<void()> job);
  void report(const QString& message, bool error = false);
  void open_dialog();
  void smooth_dialog();
  void kla_dialog();
  void connect_dialog();
  void export_dialog();
  void snapshot_dialog();
  void show_kla(int sequence, int layer);
  PlotCanvas* current_canvas() const;
  SeriesSet* current_set();

  std::size_t budget_;
  QString kalmanscan_;
  std::unique_ptr<SeriesSet> offline_, live_;
  PlotCanvas* offline_canvas_ = nullptr;
  PlotCanvas* live_canvas_ = nullptr;
  HeatmapView* heatmap_ = nullptr;
  StreamList* stream_list_ = nullptr;
  std::vector<std::string> start_hidden_;  // see hide_streams()
  QDockWidget* streams_dock_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QLabel* status_ = nullptr;
  QSpinBox* kla_sequence_ = nullptr;
  QSpinBox* kla_layer_ = nullptr;
  QAction* pause_ = nullptr;
  QAction* follow_ = nullptr;
  std::optional<proto::KlaUncertaintyExport> kla_;
  std::vector<std::thread> workers_;
  std::unique_ptr<LiveSource> live_source_;
  QTimer* live_status_timer_ = nullptr;
  std::unique_ptr<QTemporaryDir> smooth_dir_;
  QStringList errors_;
  int running_ = 0;  // workers and subprocesses not finished (UI thread only)
};

}  // namespace kalmanscan::viz
