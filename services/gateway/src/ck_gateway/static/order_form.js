// The yellow block of the order form (R-BUDGET-2): recomputed as the counts change, from the
// rates the server put in its data attributes. Amounts are whole cents; shown the Dutch way.
(function () {
  "use strict";
  var block = document.getElementById("gele-blok");
  if (!block) { return; }
  var rate = function (name) { return parseInt(block.dataset[name], 10) || 0; };
  var count = function (id) {
    var value = parseInt(document.getElementById(id).value, 10);
    return isNaN(value) || value < 0 ? 0 : value;
  };
  var euro = function (cents) {
    var whole = Math.floor(cents / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ".");
    var rest = ("0" + (cents % 100)).slice(-2);
    return "\u20ac " + whole + "," + rest;
  };
  var update = function () {
    var collective = count("f-collectief");
    var individual = count("f-individueel");
    document.getElementById("blok-collectief").textContent =
      euro(collective * rate("collectiveBudget"));
    document.getElementById("blok-individueel").textContent =
      euro(individual * rate("individualBudget"));
    document.getElementById("blok-factuur").textContent = euro(
      collective * rate("collectiveInvoice") + individual * rate("individualInvoice"));
  };
  ["f-collectief", "f-individueel"].forEach(function (id) {
    var input = document.getElementById(id);
    if (input) { input.addEventListener("input", update); }
  });
  update();
})();
