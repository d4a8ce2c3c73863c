/* Suggestions for the relationship form's type:id fields: as the curator types an id, a
 * name or an email, the catalog's matches fill the field's datalist. */
(function () {
  "use strict";
  function attach(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var pending = null;
    input.addEventListener("input", function () {
      var term = input.value.trim();
      if (pending) { window.clearTimeout(pending); }
      if (!term) { return; }
      pending = window.setTimeout(function () {
        var url = input.dataset.lookupUrl + "?q=" + encodeURIComponent(term);
        fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
          .then(function (response) { return response.ok ? response.json() : { results: [] }; })
          .then(function (body) {
            list.innerHTML = "";
            body.results.forEach(function (match) {
              var option = document.createElement("option");
              option.value = match.value;
              option.label = match.label;
              list.appendChild(option);
            });
            input.dataset.suggested = String(body.results.length);
          })
          .catch(function () { input.dataset.suggested = "0"; });
      }, 150);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input.entity-key-input").forEach(attach);
  });
})();
