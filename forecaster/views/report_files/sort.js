// The one script of `forecast report`, inlined into the page: sorts the main table by the column whose header
// button is pressed (by mouse, or Enter or Space on the focused button), ascending first, then descending. Each cell
// carries its sort key in data-value: numbers sort as numbers, text as text, empty keys last either way. The
// rows come sorted already, so the page reads the same without scripts.
(function () {
  "use strict";
  var table = document.getElementById("tickers");
  if (!table) {
    return;
  }
  var body = table.tBodies[0];
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var original = Array.prototype.slice.call(body.rows);
  original.forEach(function (row, index) {
    row.dataset.order = index;
  });

  function key(row, column, numeric) {
    var cell = row.cells[column];
    var text = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
    if (text === "") {
      return null;
    }
    return numeric ? Number(text) : text;
  }

  function sortBy(header, column) {
    var numeric = header.getAttribute("data-type") === "number";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var direction = ascending ? 1 : -1;
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (row) {
      return { row: row, key: key(row, column, numeric), order: Number(row.dataset.order) };
    });
    keyed.sort(function (a, b) {
      if (a.key === null || b.key === null) {
        return a.key === b.key ? a.order - b.order : (a.key === null ? 1 : -1);
      }
      var difference = numeric ? a.key - b.key : a.key.localeCompare(b.key);
      return difference !== 0 ? direction * difference : a.order - b.order;
    });
    var fragment = document.createDocumentFragment();
    keyed.forEach(function (item) {
      fragment.appendChild(item.row);
    });
    body.appendChild(fragment);
    headers.forEach(function (other) {
      other.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  headers.forEach(function (header, column) {
    var button = header.querySelector("button");
    if (button) {
      button.addEventListener("click", function () {
        sortBy(header, column);
      });
    }
  });
})();
