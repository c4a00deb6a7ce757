// Only a convenience: pre-select the reader's own time zone. The form works without it.
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var field = document.getElementById("timezone");
    if (!zone || !field || field.value !== field.getAttribute("data-default")) return;
    for (var i = 0; i < field.options.length; i++) {
      if (field.options[i].value === zone) { field.value = zone; return; }
    }
  } catch (e) {}
})();
