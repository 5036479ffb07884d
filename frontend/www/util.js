/* frontend/www/util.js - the storefront's shared helpers (window.Bazar): DOM building,
 * messages, number and price formats, and the fetch wrapper. Loaded first; catalog.js,
 * cluster.js and app.js use it.
 * Every string from the server is rendered with textContent (never innerHTML). */
'use strict';

window.Bazar = (function () {
  var PRICE = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
  var COUNT = new Intl.NumberFormat('en-US');

  function $(id) { return document.getElementById(id); }

  /* el('td', {className: 'num'}, 'text' or [children]) */
  function el(tag, props, content) {
    var e = document.createElement(tag);
    if (props) Object.keys(props).forEach(function (k) { e[k] = props[k]; });
    if (content !== undefined && content !== null) {
      if (Array.isArray(content)) content.forEach(function (c) { e.appendChild(c); });
      else e.textContent = String(content);
    }
    return e;
  }

  /* an SVG element (createElementNS), attributes set with setAttribute */
  function svg(tag, attrs) {
    var e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function say(node, text, kind) {
    node.textContent = text;
    node.className = 'msg' + (kind ? ' ' + kind : '');
  }

  /* $1,234.50 (Intl.NumberFormat); '-' when the server sent no number */
  function money(p) { return typeof p === 'number' ? PRICE.format(p) : '-'; }

  /* 100,000 */
  function count(n) { return typeof n === 'number' ? COUNT.format(n) : '-'; }

  function plural(n, what) { return count(n) + ' ' + what + (n === 1 ? '' : 's'); }

  /* fetch wrapper: resolves to {status, body} (status 0 when the server is unreachable). */
  function api(method, path, body, headers) {
    var opts = { method: method, headers: Object.assign({ Accept: 'application/json' }, headers || {}),
                 cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (r) {
      return r.text().then(function (t) {
        var parsed = null;
        try { parsed = t ? JSON.parse(t) : null; } catch (e) { parsed = null; }
        return { status: r.status, body: parsed };
      });
    }, function () { return { status: 0, body: null }; });
  }

  function errorOf(r) {
    return r.body && typeof r.body.error === 'string' ? r.body.error : 'HTTP ' + r.status;
  }

  return { $: $, el: el, svg: svg, clear: clear, say: say, money: money, count: count,
           plural: plural, api: api, errorOf: errorOf };
})();
