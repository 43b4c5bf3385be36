// A little enhancement; every page works without it.
// 1. Cascading province → city → district selects (data from /console/districts).
// 2. A live character counter for textareas with data-count.
// 3. Copy buttons for [data-copy].
(function () {
  function fill(select, items, keep) {
    var current = keep || select.value;
    select.innerHTML = '<option value="">请选择</option>';
    items.forEach(function (i) {
      var o = document.createElement('option');
      o.value = String(i.code); o.textContent = i.name;
      if (String(i.code) === current) o.selected = true;
      select.appendChild(o);
    });
  }
  function load(parent, target, then) {
    if (!parent) { fill(target, []); if (then) then(); return; }
    fetch('/console/districts?parent=' + encodeURIComponent(parent), { credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (items) { fill(target, items); if (then) then(); });
  }
  var p = document.querySelector('select[data-region=province]');
  var c = document.querySelector('select[data-region=city]');
  var d = document.querySelector('select[data-region=district]');
  if (p && c && d) {
    p.addEventListener('change', function () { load(p.value, c, function () { load('', d); }); });
    c.addEventListener('change', function () { load(c.value, d); });
  }
  document.querySelectorAll('textarea[data-count]').forEach(function (t) {
    var out = document.createElement('small');
    out.className = 'hint';
    t.after(out);
    var show = function () { out.textContent = '已输入 ' + Array.from(t.value).length + ' 字（' + t.dataset.count + '）'; };
    t.addEventListener('input', show); show();
  });
  document.querySelectorAll('[data-copy]').forEach(function (b) {
    b.addEventListener('click', function (e) {
      e.preventDefault();
      var el = document.getElementById(b.dataset.copy);
      if (el && navigator.clipboard) navigator.clipboard.writeText(el.textContent).then(function () { b.textContent = '已复制'; });
    });
  });
})();
