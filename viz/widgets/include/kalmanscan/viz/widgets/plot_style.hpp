// Colours and sizes of the plots. Bands and means are opaque by default so that what a pixel
// shows is unambiguous (the rendering tests rely on it); the smoothed overlay is translucent so
// the filtered estimate stays visible under it.
#pragma once

#include <QColor>

namespace kalmanscan::viz {

struct EstimateColours {
  QColor mean, band1, band2;  ///< mean line, ±1σ band, ±2σ band
};

struct PlotStyle {
  QColor background{255, 255, 255};
  QColor grid{232, 232, 232};
  QColor axis{90, 90, 90};
  QColor text{40, 40, 40};
  EstimateColours filtered{QColor(20, 70, 170), QColor(140, 175, 235), QColor(205, 222, 250)};
  EstimateColours smoothed{QColor(200, 80, 0), QColor(245, 150, 60, 110), QColor(250, 200, 140, 90)};
  QColor measurement{70, 70, 70};
  QColor nis{120, 40, 140};
  int mean_width = 2;        ///< pixels
  int point_size = 3;        ///< side of a measurement's square, pixels
  int left_margin = 70;      ///< room for the value labels
  int right_margin = 10;
  int title_height = 18;
  int time_axis_height = 22;  ///< below the last panel
  int panel_gap = 6;
  int nis_panel_height = 90;  ///< NIS strip; the other panels share the rest
};

}  // namespace kalmanscan::viz
