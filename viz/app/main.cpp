// kalmanscan-dashboard: the Qt 6 uncertainty dashboard (docs/DASHBOARD.md).
//
//   kalmanscan-dashboard --model M --open-log L --open-estimates E [--open-estimates E2]
//   kalmanscan-dashboard --model M --open-log L --smooth            (runs `kalmanscan smooth`)
//   kalmanscan-dashboard --connect 127.0.0.1:7700 [--streams a,b]
//   kalmanscan-dashboard --open-kla export.pb
// With --screenshot out.png it runs headless (QT_QPA_PLATFORM=offscreen unless set): loads
// everything, waits for loads and subprocesses (or --live-seconds of live data), saves a PNG of
// the view in front and exits — 0 on success, 1 when anything failed (the errors on stderr).
#include <QApplication>
#include <QSpinBox>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QTimer>
#include <cstdio>

#include "kalmanscan/config.hpp"
#include "kalmanscan/viz/widgets/plot_canvas.hpp"
#include "main_window.hpp"

namespace {

using kalmanscan::viz::MainWindow;

// The `kalmanscan` program: --kalmanscan, else the one beside this program, else the build
// tree's, else whatever PATH finds.
QString find_kalmanscan(const QString& given) {
  if (!given.isEmpty()) return given;
  const QString beside = QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("kalmanscan"));
  if (QFileInfo(beside).isExecutable()) return beside;
#ifdef KALMANSCAN_BUILD_TREE_CLI
  if (QFileInfo(QStringLiteral(KALMANSCAN_BUILD_TREE_CLI)).isExecutable()) return QStringLiteral(KALMANSCAN_BUILD_TREE_CLI);
#endif
  return QStringLiteral("kalmanscan");
}

int fail(const QString& message) {
  std::fprintf(stderr, "kalmanscan-dashboard: %s\n", qPrintable(message));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Headless mode must choose its platform before QApplication exists.
  for (int i = 1; i < argc; ++i)
    if (QByteArray(argv[i]) == "--screenshot" && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
      qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("kalmanscan-dashboard"));
  QApplication::setApplicationVersion(QStringLiteral(KALMANSCAN_VERSION));

  QCommandLineParser cli;
  cli.setApplicationDescription(QStringLiteral("Filter and smoother estimates with their uncertainty: live, offline, KLA."));
  cli.addHelpOption();
  cli.addVersionOption();
  const QCommandLineOption model({"m", "model"}, "model spec of the log (names the state components).", "file");
  const QCommandLineOption log("open-log", "log (CSV or record file); its measurements are drawn as points.", "file");
  const QCommandLineOption estimates("open-estimates", "estimates written by `kalmanscan smooth` (repeatable).", "file");
  const QCommandLineOption csv_kind("estimates-kind", "what CSV estimates hold: filtered | smoothed (default smoothed).",
                                    "kind", "smoothed");
  const QCommandLineOption smooth("smooth", "run `kalmanscan smooth` on --open-log with --model (filtered and smoothed).");
  const QCommandLineOption program("kalmanscan", "the kalmanscan program to run for --smooth.", "path");
  const QCommandLineOption kla("open-kla", "KLA uncertainty export (kalmanscan-train --export-uncertainty).", "file");
  const QCommandLineOption kla_pick("kla-sequence", "sequence and KLA layer to show, as S:L.", "S:L", "0:0");
  const QCommandLineOption live("connect", "a `kalmanscan serve` to follow, as host:port.", "host:port");
  const QCommandLineOption streams("streams", "streams to follow, comma-separated (default: all).", "names");
  const QCommandLineOption token("token", "the server's shared secret.", "token");
  const QCommandLineOption memory("memory-mb", "memory budget per series in MiB (older data is decimated beyond it).",
                                  "MiB", "256");
  const QCommandLineOption shot("screenshot", "headless: save a PNG of the view in front and exit.", "out.png");
  const QCommandLineOption size("size", "window size for --screenshot, as WxH.", "WxH", "1200x800");
  const QCommandLineOption window("window", "time window to show, as t0:t1 (default: all data).", "t0:t1");
  const QCommandLineOption view("view", "view in front: offline | live | kla.", "view");
  const QCommandLineOption live_seconds("live-seconds", "with --screenshot and --connect: seconds of live data to wait for.",
                                        "s", "2");
  const QCommandLineOption export_csv("export-csv", "with --screenshot: also write the visible range as CSV.", "out.csv");
  cli.addOptions({model, log, estimates, csv_kind, smooth, program, kla, kla_pick, live, streams, token, memory, shot, size,
                  window, view, live_seconds, export_csv});
  cli.process(app);

  const QString kind = cli.value(csv_kind);
  if (kind != QLatin1String("filtered") && kind != QLatin1String("smoothed"))
    return fail(QStringLiteral("--estimates-kind: expected filtered or smoothed, found '%1'").arg(kind));
  bool ok = false;
  const qulonglong mib = cli.value(memory).toULongLong(&ok);
  if (!ok || mib == 0) return fail(QStringLiteral("--memory-mb: expected a positive integer, found '%1'").arg(cli.value(memory)));

  MainWindow win(static_cast<std::size_t>(mib) << 20, find_kalmanscan(cli.value(program)));
  const QStringList wh = cli.value(size).split('x');
  win.resize(wh.value(0).toInt() > 0 ? wh.value(0).toInt() : 1200, wh.value(1).toInt() > 0 ? wh.value(1).toInt() : 800);

  if (cli.isSet(smooth)) {
    if (!cli.isSet(log) || !cli.isSet(model)) return fail(QStringLiteral("--smooth needs --open-log and --model"));
    win.smooth(cli.value(log), cli.value(model));
  } else if (cli.isSet(log) || cli.isSet(estimates)) {
    kalmanscan::viz::OfflineInputs in{cli.value(log), cli.value(model), cli.values(estimates),
                                      kind == QLatin1String("filtered") ? kalmanscan::viz::Role::filtered
                                                                       : kalmanscan::viz::Role::smoothed};
    win.open_offline(in);
  }
  if (cli.isSet(kla)) {
    win.open_kla(cli.value(kla));
    // Pick the sequence and layer after the file is read (the spin boxes are clamped to it).
    const QStringList sl = cli.value(kla_pick).split(':');
    win.findChildren<QSpinBox*>().value(0)->setValue(sl.value(0).toInt());
    win.findChildren<QSpinBox*>().value(1)->setValue(sl.value(1).toInt());
  }
  if (cli.isSet(live)) {
    kalmanscan::viz::LiveOptions o;
    const QString where = cli.value(live);
    o.host = where.section(':', 0, 0).toStdString();
    o.port = static_cast<std::uint16_t>(where.section(':', 1, 1).toUInt(&ok));
    if (!ok || o.port == 0) return fail(QStringLiteral("--connect: expected host:port, found '%1'").arg(where));
    o.token = cli.value(token).toStdString();
    for (const QString& s : cli.value(streams).split(',', Qt::SkipEmptyParts)) o.streams.push_back(s.trimmed().toStdString());
    win.connect_live(o);
  }
  if (cli.isSet(view)) win.show_view(cli.value(view));

  if (!cli.isSet(shot)) {
    win.show();
    return app.exec();
  }

  // Headless: wait for the data, frame it, save the picture.
  win.show();
  QStringList errors = win.wait_idle();
  if (cli.isSet(live)) {
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < cli.value(live_seconds).toDouble() * 1000) QApplication::processEvents(QEventLoop::AllEvents, 20);
  }
  for (kalmanscan::viz::PlotCanvas* c : {win.offline_canvas(), win.live_canvas()}) {
    if (cli.isSet(window)) {
      const QStringList tt = cli.value(window).split(':');
      c->set_window(tt.value(0).toDouble(), tt.value(1).toDouble());
    } else if (!c->following()) {
      c->fit_all();
    }
  }
  QApplication::processEvents();
  if (cli.isSet(export_csv)) {
    try {
      win.export_csv(cli.value(export_csv));
    } catch (const std::exception& e) {
      errors << QString::fromStdString(e.what());
    }
  }
  if (!win.grab().save(cli.value(shot), "PNG")) errors << QStringLiteral("%1: could not write the PNG").arg(cli.value(shot));
  for (const QString& e : errors) std::fprintf(stderr, "kalmanscan-dashboard: %s\n", qPrintable(e));
  return errors.isEmpty() ? 0 : 1;
}
