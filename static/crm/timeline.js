// The call page: click (or Enter on) an utterance to hear it; the bubble being heard is highlighted.
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    var audio = document.getElementById("call-audio");
    var timeline = document.querySelector(".timeline");
    var toggle = document.getElementById("show-technical");
    if (toggle && timeline) {
      toggle.addEventListener("change", function () {
        timeline.classList.toggle("show-technical", toggle.checked);
      });
    }
    if (!audio) return;
    var bubbles = Array.prototype.slice.call(document.querySelectorAll(".bubble[data-start-ms]"));

    function seek(bubble) {
      var seconds = parseInt(bubble.getAttribute("data-start-ms"), 10) / 1000;
      if (isNaN(seconds)) return;
      audio.currentTime = seconds;
      var playing = audio.play();
      if (playing && playing.catch) playing.catch(function () {}); // autoplay may be refused; the seek stays
    }

    bubbles.forEach(function (bubble) {
      bubble.addEventListener("click", function () { seek(bubble); });
      bubble.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          seek(bubble);
        }
      });
    });

    audio.addEventListener("timeupdate", function () {
      var ms = audio.currentTime * 1000;
      bubbles.forEach(function (bubble) {
        var start = parseInt(bubble.getAttribute("data-start-ms"), 10);
        var end = parseInt(bubble.getAttribute("data-end-ms"), 10);
        bubble.classList.toggle("playing", !audio.paused && ms >= start && ms < end);
      });
    });
  });
})();
