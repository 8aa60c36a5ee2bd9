/*
 * NOT A TRAINED MODEL. A hand-written rule that maps a flow's downstream throughput in a
 * window to the highest rung of a typical bitrate ladder it could sustain. It exists so the
 * toolkit has something honest to run until the trained random forest (models/, issue 8)
 * replaces it. Same interface as the trained model: predict(features) -> object.
 */
var LADDER = [
  // [resolution, kbit/s needed] (a typical 16:9 ladder)
  ['1080p', 4500],
  ['720p', 2500],
  ['480p', 1000],
  ['360p', 600],
  ['240p', 300],
];

function predict(f) {
  var kbps = (f.downPayload * 8) / 1000 / f.window;
  var resolution = 'none';
  for (var i = 0; i < LADDER.length; i++) {
    if (kbps >= LADDER[i][1]) {
      resolution = LADDER[i][0];
      break;
    }
  }
  return { model: 'throughput-rule', trained: false, resolution: resolution, kbps: Math.round(kbps) };
}
