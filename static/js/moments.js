/* Moments: the preview's "全文" fold, and the pictures chosen in the composer shown in the preview's grid before
 * they are uploaded (the server renders the saved ones; a chosen file only exists in the browser until then). */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-fold-toggle]");
    if (!toggle) return;
    var text = toggle.previousElementSibling;
    var folded = text.classList.toggle("folded");
    toggle.textContent = folded ? toggle.dataset.more : toggle.dataset.less;
    toggle.setAttribute("aria-expanded", folded ? "false" : "true");
  });

  var urls = [];

  function gridClass(count) {
    return count === 1 ? "one" : count === 4 ? "four" : "three";
  }

  function showChosen() {
    var input = document.getElementById("id_images");
    var preview = document.getElementById("moment-preview");
    if (!input || !preview) return;
    urls.forEach(URL.revokeObjectURL);
    urls = Array.prototype.map.call(input.files || [], function (file) { return URL.createObjectURL(file); });
    if (!urls.length) return;
    var grid = preview.querySelector("[data-grid]");
    if (!grid) {
      grid = document.createElement("div");
      grid.setAttribute("data-grid", "");
      var meta = preview.querySelector(".moment-meta");
      meta.parentNode.insertBefore(grid, meta);
    }
    urls.forEach(function (url) {
      var img = document.createElement("img");
      img.src = url;
      img.alt = "";
      img.setAttribute("data-chosen", "");
      grid.appendChild(img);
    });
    grid.className = "moment-grid " + gridClass(grid.querySelectorAll("img").length);
  }

  document.addEventListener("change", function (event) {
    if (event.target.id === "id_images") showChosen();
  });
  document.body.addEventListener("htmx:afterSettle", function (event) {
    if (event.target.id === "compose-preview") showChosen();
  });
})();
