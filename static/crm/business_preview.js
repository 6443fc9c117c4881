// Business settings: "Preview greeting" asks the server to render the greeting (as edited, unsaved) and plays it.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("greeting-preview");
    var button = document.getElementById("preview-greeting-button");
    var audio = document.getElementById("preview-greeting-audio");
    var status = document.getElementById("preview-greeting-status");
    if (!box || !button || !audio) return;
    var lastUrl = null;

    // The button belongs under the greeting it reads: move its row there (the box is rendered after all the
    // settings, where it still works without this script).
    var greetingRow = document.querySelector(".form-row.field-greeting");
    var row = box.querySelector(".form-row");
    if (greetingRow && row) {
      row.classList.add("greeting-preview-row");
      greetingRow.after(row);
      box.hidden = true;
    }

    button.addEventListener("click", function () {
      var field = document.getElementById("id_greeting");
      var url = box.getAttribute("data-url");
      if (field && field.value.trim()) url += "?text=" + encodeURIComponent(field.value.trim());
      button.disabled = true;
      status.textContent = box.getAttribute("data-busy");
      fetch(url, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.blob();
        })
        .then(function (blob) {
          if (lastUrl) URL.revokeObjectURL(lastUrl);
          lastUrl = URL.createObjectURL(blob);
          audio.src = lastUrl;
          audio.hidden = false;
          status.textContent = "";
          var playing = audio.play();
          if (playing && playing.catch) playing.catch(function () {}); // autoplay refused: the player is there
        })
        .catch(function () { status.textContent = box.getAttribute("data-failed"); })
        .then(function () { button.disabled = false; });
    });
  });
})();
