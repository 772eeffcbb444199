// "studenten uitnodigen": the box above the right-hand column ticks every person on the page,
// and a person unticked by hand unticks it again. Without scripts the form still works: the
// server reads a ticked header box as "everyone on this page".
(function () {
  "use strict";
  document.querySelectorAll("input[data-select-all]").forEach(function (header) {
    var name = header.getAttribute("data-select-all");
    var form = header.getAttribute("form");
    var rows = Array.prototype.filter.call(
      document.querySelectorAll('input[type="checkbox"][name="' + name + '"]'),
      function (box) { return box.getAttribute("form") === form; }
    );
    header.addEventListener("change", function () {
      rows.forEach(function (box) { box.checked = header.checked; });
    });
    rows.forEach(function (box) {
      box.addEventListener("change", function () {
        header.checked = rows.length > 0 && rows.every(function (b) { return b.checked; });
      });
    });
  });
})();
