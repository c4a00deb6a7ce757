// Only a convenience: pre-fill the reader's time zone. The form works without it.
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var field = document.getElementById("timezone");
    if (zone && field && field.value === "UTC") field.value = zone;
  } catch (e) {}
})();
