// A little enhancement; every page works without it.
// 1. Cascading province → city → district selects (data from /console/districts).
// 2. A live character counter for textareas with data-count.
// 3. Copy buttons for [data-copy].
// 4. 主体证件类型 narrowed to the chosen 主体性质; 与主体负责人为同一人 hides the second block.
// 5. Forms with data-confirm ask before they are sent.
// 6. On phones, the top menu folds behind the 菜单 button.
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
  document.querySelectorAll('form[data-confirm]').forEach(function (f) {
    f.addEventListener('submit', function (e) {
      if (!window.confirm(f.dataset.confirm)) e.preventDefault();
    });
  });
  // 主体证件类型: only the types of the chosen 主体性质 (options carry data-nature).
  document.querySelectorAll('select[data-nature-of]').forEach(function (sel) {
    var nature = document.querySelector('select[name="' + sel.dataset.natureOf + '"]');
    if (!nature) return;
    var narrow = function () {
      Array.prototype.forEach.call(sel.options, function (o) {
        if (!o.dataset.nature) return;
        var other = nature.value !== '' && o.dataset.nature !== nature.value;
        o.hidden = other; o.disabled = other;
        if (other && o.selected) sel.value = '';
      });
    };
    nature.addEventListener('change', narrow); narrow();
  });
  // 与主体负责人为同一人: the second block is not filled in.
  var same = document.getElementById('same');
  var block = document.getElementById('applet-principal');
  if (same && block) {
    same.addEventListener('change', function () { block.hidden = same.checked; });
  }
  var top = document.querySelector('header.top');
  var toggle = document.getElementById('menu-toggle');
  if (top && toggle) {
    top.classList.add('folding');
    toggle.addEventListener('click', function () {
      var open = top.classList.toggle('open');
      toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
    });
  }
})();
