// kalmanscan-dashboard: the Qt 6 uncertainty dashboard (docs/DASHBOARD.md).
//
//   kalmanscan-dashboard --model M --open-log L --open-estimates E [--open-estimates E2]
//   kalmanscan-dashboard --model M --open-log L --smooth            (runs `kalmanscan smooth`)
//   kalmanscan-dashboard --connect 127.0.0.1:7878 [--streams a,b] [--hide-streams c]
//   kalmanscan-dashboard --open-kla export.pb
// With --screenshot out.png it runs headless (QT_QPA_PLATFORM=offscreen unless set): loads
// everything, waits for loads and subprocesses (and, live, --live-seconds or until
// --live-estimates arrived; "live: connected" on stdout says when the subscription stands), frames
// --window or all data, saves a PNG of the view in front and exits — 0 on success, 1 when
// anything failed (the errors on stderr).
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QTimer>
#include <cmath>
#include <cstdio>
#include <optional>
#include <utility>

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

// "A<sep>B" as two numbers, or nothing.
std::optional<std::pair<double, double>> number_pair(const QString& text, QChar sep) {
  const QStringList parts = text.split(sep);
  bool ok_a = false, ok_b = false;
  if (parts.size() != 2) return std::nullopt;
  const double a = parts[0].toDouble(&ok_a), b = parts[1].toDouble(&ok_b);
  if (!ok_a || !ok_b) return std::nullopt;
  return std::pair{a, b};
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
  const QCommandLineOption hidden("hide-streams",
                                  "streams to list unchecked in the Streams dock: received, not drawn (comma-separated).",
                                  "names");
  const QCommandLineOption token("token", "the server's shared secret.", "token");
  const QCommandLineOption memory("memory-mb", "memory budget per series in MiB (older data is decimated beyond it).",
                                  "MiB", "256");
  const QCommandLineOption shot("screenshot", "headless: save a PNG of the view in front and exit.", "out.png");
  const QCommandLineOption size("size", "window size for --screenshot, as WxH.", "WxH", "1200x800");
  const QCommandLineOption window("window", "time window to show, as t0:t1 (default: all data).", "t0:t1");
  const QCommandLineOption view("view", "view in front: offline | live | kla.", "view");
  const QCommandLineOption live_seconds("live-seconds", "with --screenshot and --connect: seconds of live data to wait for.",
                                        "s", "2");
  const QCommandLineOption live_estimates("live-estimates",
                                          "with --screenshot and --connect: stop waiting once this many estimates arrived "
                                          "(--live-seconds is then the time limit).",
                                          "n");
  const QCommandLineOption export_csv("export-csv", "with --screenshot: also write the visible range as CSV.", "out.csv");
  cli.addOptions({model, log, estimates, csv_kind, smooth, program, kla, kla_pick, live, streams, hidden, token, memory,
                  shot, size, window, view, live_seconds, live_estimates, export_csv});
  cli.process(app);

  const QString kind = cli.value(csv_kind);
  if (kind != QLatin1String("filtered") && kind != QLatin1String("smoothed"))
    return fail(QStringLiteral("--estimates-kind: expected filtered or smoothed, found '%1'").arg(kind));
  bool ok = false;
  const qulonglong mib = cli.value(memory).toULongLong(&ok);
  if (!ok || mib == 0) return fail(QStringLiteral("--memory-mb: expected a positive integer, found '%1'").arg(cli.value(memory)));

  const auto wh = number_pair(cli.value(size), 'x');
  if (!wh || !(wh->first >= 100 && wh->first <= 16384 && wh->second >= 100 && wh->second <= 16384))
    return fail(QStringLiteral("--size: expected WxH, each 100..16384, found '%1'").arg(cli.value(size)));
  const auto t_window = number_pair(cli.value(window), ':');
  if (cli.isSet(window) && !(t_window && std::isfinite(t_window->first) && t_window->first < t_window->second &&
                             std::isfinite(t_window->second)))
    return fail(QStringLiteral("--window: expected t0:t1 with t0 < t1, found '%1'").arg(cli.value(window)));
  const auto kla_sl = number_pair(cli.value(kla_pick), ':');
  if (!kla_sl || kla_sl->first < 0 || kla_sl->second < 0)
    return fail(QStringLiteral("--kla-sequence: expected S:L, two indices, found '%1'").arg(cli.value(kla_pick)));
  const QStringList views = {QStringLiteral("offline"), QStringLiteral("live"), QStringLiteral("kla")};
  if (cli.isSet(view) && !views.contains(cli.value(view)))
    return fail(QStringLiteral("--view: expected offline, live or kla, found '%1'").arg(cli.value(view)));
  const double wait_s = cli.value(live_seconds).toDouble(&ok);
  if (!ok || !(wait_s >= 0 && wait_s <= 86400))
    return fail(QStringLiteral("--live-seconds: expected seconds in 0..86400, found '%1'").arg(cli.value(live_seconds)));
  const qulonglong wait_estimates = cli.isSet(live_estimates) ? cli.value(live_estimates).toULongLong(&ok) : 0;
  if (cli.isSet(live_estimates) && (!ok || wait_estimates == 0))
    return fail(QStringLiteral("--live-estimates: expected a positive integer, found '%1'").arg(cli.value(live_estimates)));

  MainWindow win(static_cast<std::size_t>(mib) << 20, find_kalmanscan(cli.value(program)));
  win.resize(int(wh->first), int(wh->second));

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
    win.open_kla(cli.value(kla), int(kla_sl->first), int(kla_sl->second));
  }
  if (cli.isSet(live)) {
    kalmanscan::viz::LiveOptions o;
    if (const QString why = kalmanscan::viz::set_endpoint(o, cli.value(live)); !why.isEmpty())
      return fail(QStringLiteral("--connect: ") + why);
    o.token = cli.value(token).toStdString();
    for (const QString& s : cli.value(streams).split(',', Qt::SkipEmptyParts)) o.streams.push_back(s.trimmed().toStdString());
    win.connect_live(o);
    std::vector<std::string> hide;
    for (const QString& s : cli.value(hidden).split(',', Qt::SkipEmptyParts)) hide.push_back(s.trimmed().toStdString());
    win.hide_streams(std::move(hide));
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
    bool announced = false;
    kalmanscan::viz::LiveStatus status;
    while (t.elapsed() < wait_s * 1000) {
      QApplication::processEvents(QEventLoop::AllEvents, 20);
      status = win.live_status();
      if (status.connected && !announced) {
        std::printf("live: connected\n");
        std::fflush(stdout);
        announced = true;
      }
      if (status.finished || (wait_estimates > 0 && status.estimates >= wait_estimates)) break;
    }
    if (status.finished) errors << QStringLiteral("live: ") + QString::fromStdString(status.error);
    if (wait_estimates > 0 && status.estimates < wait_estimates)
      errors << QStringLiteral("live: %1 of %2 estimates within %3 s").arg(status.estimates).arg(wait_estimates).arg(wait_s);
    win.poll_live();                // the Streams list as it stands now
    QApplication::processEvents();  // the last queued redraw notifications
  }
  for (kalmanscan::viz::PlotCanvas* c : {win.offline_canvas(), win.live_canvas()}) {
    if (t_window)
      c->set_window(t_window->first, t_window->second);
    else
      c->fit_all();
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
