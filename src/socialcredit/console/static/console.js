// Draw each chart whose Plotly figure the server embedded as JSON next to it.
(function () {
  document.querySelectorAll("script.figure").forEach(function (s) {
    var fig = JSON.parse(s.textContent);
    var el = document.getElementById(s.dataset.target);
    Plotly.newPlot(el, fig.data, fig.layout, {
      responsive: true, displaylogo: false, staticPlot: false,
      modeBarButtonsToRemove: ["sendDataToCloud"]
    }).then(function () { el.dataset.drawn = "true"; });
  });
})();
