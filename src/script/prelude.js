/*
 * prelude.js - the JavaScript half of the script API (ES5.1).
 *
 * Evaluated in every run's fresh heap as a function of N, the natives of
 * glide.c (never left reachable by the script): N.query, N.count, N.get,
 * N.insert, N.update, N.remove, N.fields, N.display, N.can, N.aggregate,
 * N.log, N.message, N.user, N.hasRole, N.prop, N.setProp, N.time,
 * N.parseTime, N.formatLocal, N.guid, N.event, N.resolve; and restmsg.c's
 * N.restLoad, N.restExecute, N.restEnqueue, N.restWait (sn_ws).  Record values
 * travel as strings, as stored (UTC date-times).
 */
(function (N, G) {
	'use strict';
	var ops = {
		'=': '=', '!=': '!=', '>': '>', '>=': '>=', '<': '<', '<=': '<=',
		'IN': 'IN', 'NOT IN': 'NOT IN', 'STARTSWITH': 'STARTSWITH', 'ENDSWITH': 'ENDSWITH',
		'CONTAINS': 'LIKE', 'DOES NOT CONTAIN': 'NOT LIKE', 'LIKE': 'LIKE',
		'NOT LIKE': 'NOT LIKE', 'INSTANCEOF': 'INSTANCEOF', 'SAMEAS': 'SAMEAS',
		'NSAMEAS': 'NSAMEAS', 'ISEMPTY': 'ISEMPTY', 'ISNOTEMPTY': 'ISNOTEMPTY',
		'BETWEEN': 'BETWEEN', 'ANYTHING': 'ANYTHING'
	};
	function str(v) {
		if (v === null || v === undefined)
			return '';
		if (v instanceof GlideElement)
			return v.toString();
		if (v instanceof GlideRecordBase)
			return v.getUniqueValue() || '';
		if (v instanceof GlideDateTime)
			return v.getValue();
		if (typeof v === 'boolean')
			return v ? 'true' : 'false';
		return String(v);
	}
	function cond(field, op, value) {
		if (arguments.length < 3) {
			value = op;
			op = '=';
		}
		var o = ops[String(op).toUpperCase()];
		if (!o)
			throw new Error('addQuery: unknown operator ' + op);
		if (value instanceof Array)
			value = value.map(str).join(',');
		return String(field) + o + str(value);
	}

	/* ---- GlideQueryCondition ------------------------------------------------ */
	function GlideQueryCondition(gr, clause) {
		this._gr = gr;
		this._clause = clause;
	}
	GlideQueryCondition.prototype.addOrCondition = function (field, op, value) {
		this._clause.push(cond.apply(null, arguments));
		return this;
	};
	GlideQueryCondition.prototype.addCondition = function (field, op, value) {
		return this._gr.addQuery.apply(this._gr, arguments);
	};

	/* ---- GlideElement --------------------------------------------------------- */
	var protos = {};   /* table -> prototype with a property per field */
	var fieldInfo = {}; /* table -> {field: {type, ref}} or null */
	function info(table) {
		if (!(table in fieldInfo))
			fieldInfo[table] = N.fields(table);
		return fieldInfo[table];
	}

	function GlideElement(gr, name, f) {
		this._gr = gr;
		this._name = name;
		this._f = f;
	}
	GlideElement.prototype.toString = function () {
		return this._gr._value(this._name);
	};
	GlideElement.prototype.valueOf = GlideElement.prototype.toString;
	GlideElement.prototype.getValue = GlideElement.prototype.toString;
	GlideElement.prototype.setValue = function (v) {
		this._gr.setValue(this._name, v);
	};
	GlideElement.prototype.getName = function () {
		return this._name;
	};
	GlideElement.prototype.getDisplayValue = function () {
		return this._gr.getDisplayValue(this._name);
	};
	GlideElement.prototype.nil = function () {
		return this.toString() === '';
	};
	GlideElement.prototype.changes = function () {
		return this._gr._value(this._name) !== this._gr._orig(this._name);
	};
	GlideElement.prototype.changesTo = function (v) {
		return this.changes() && this.toString() === str(v);
	};
	GlideElement.prototype.changesFrom = function (v) {
		return this.changes() && this._gr._orig(this._name) === str(v);
	};
	GlideElement.prototype.getRefRecord = function () {
		var gr = makeRecord(this._f && this._f.ref ? this._f.ref : '', this._gr._secure);
		var id = this.toString();
		if (this._f && this._f.ref && id)
			gr.get(id);
		return gr;
	};
	GlideElement.prototype.getED = function () {
		return {getName: function () { return this._name; }.bind(this)};
	};
	GlideElement.prototype.getTableName = function () {
		return this._gr.getTableName();
	};
	GlideElement.prototype.getBooleanValue = function () {
		return this.toString() === 'true' || this.toString() === '1';
	};
	GlideElement.prototype.getGlideObject = function () {
		return new GlideDateTime(this.toString());
	};

	/* A reference element walks on: gr.caller_id.email. */
	function elementProto(table) {
		if (protos['el:' + table])
			return protos['el:' + table];
		var p = Object.create(GlideElement.prototype);
		var fi = info(table) || {};
		Object.keys(fi).forEach(function (name) {
			if (name in GlideElement.prototype)
				return;
			Object.defineProperty(p, name, {
				get: function () {
					var ref = this._refRecord();
					return ref[name];
				},
				set: function () {
					throw new Error('Cannot set ' + name + ' through a dot-walk');
				}
			});
		});
		p._refRecord = function () {
			var id = this.toString();
			if (!this._ref || this._refId !== id) {
				this._ref = makeRecord(table, this._gr._secure);
				this._refId = id;
				if (id)
					this._ref.get(id);
			}
			return this._ref;
		};
		protos['el:' + table] = p;
		return p;
	}
	function element(gr, name) {
		var fi = info(gr._table) || {};
		var f = fi[name];
		var e = f && f.ref ? Object.create(elementProto(f.ref)) : Object.create(GlideElement.prototype);
		GlideElement.call(e, gr, name, f);
		return e;
	}

	/* ---- GlideRecord ------------------------------------------------------- */
	function recordProto(table) {
		if (protos['gr:' + table])
			return protos['gr:' + table];
		var p = Object.create(GlideRecordBase.prototype);
		var fi = info(table) || {};
		Object.keys(fi).forEach(function (name) {
			if (name in GlideRecordBase.prototype)
				return;
			Object.defineProperty(p, name, {
				get: function () {
					if (!this._els[name])
						this._els[name] = element(this, name);
					return this._els[name];
				},
				set: function (v) {
					this.setValue(name, v);
				}
			});
		});
		protos['gr:' + table] = p;
		return p;
	}

	function GlideRecordBase(table, secure) {
		this._table = String(table);
		this._secure = !!secure;
		this._clauses = [];
		this._orders = [];
		this._limit = -1;
		this._offset = 0;
		this._rows = null;
		this._pos = -1;
		this._rec = null;
		this._origRec = null;
		this._changed = {};
		this._els = {};
		this._newRecord = false;
		this._workflow = true;
		this._autoSys = true;
		this._abort = false;
		this._total = null;
	}
	function makeRecord(table, secure) {
		var gr = Object.create(recordProto(String(table)));
		GlideRecordBase.call(gr, table, secure);
		return gr;
	}
	function GlideRecord(table) {
		return makeRecord(table, false);
	}
	function GlideRecordSecure(table) {
		return makeRecord(table, true);
	}
	GlideRecord.prototype = GlideRecordBase.prototype;
	GlideRecordSecure.prototype = GlideRecordBase.prototype;
	var GR = GlideRecordBase.prototype;

	GR._value = function (name) {
		if (!this._rec)
			return '';
		var v = this._rec[name];
		return v === undefined || v === null ? '' : String(v);
	};
	GR._orig = function (name) {
		if (!this._origRec)
			return '';
		var v = this._origRec[name];
		return v === undefined || v === null ? '' : String(v);
	};
	GR.isValid = function () {
		return info(this._table) !== null;
	};
	GR.getTableName = function () {
		return this._table;
	};
	GR.getRecordClassName = function () {
		return this._value('sys_class_name') || this._table;
	};
	GR.addQuery = function (field, op, value) {
		if (arguments.length === 1) {
			this.addEncodedQuery(field);
			return new GlideQueryCondition(this, this._clauses[this._clauses.length - 1]);
		}
		var clause = [cond.apply(null, arguments)];
		this._clauses.push(clause);
		return new GlideQueryCondition(this, clause);
	};
	GR.addEncodedQuery = function (q) {
		q = str(q);
		if (q)
			this._clauses.push([q]);
	};
	GR.addActiveQuery = function () {
		return this.addQuery('active', 'true');
	};
	GR.addInactiveQuery = function () {
		return this.addQuery('active', 'false');
	};
	GR.addNullQuery = function (field) {
		var clause = [String(field) + 'ISEMPTY'];
		this._clauses.push(clause);
		return new GlideQueryCondition(this, clause);
	};
	GR.addNotNullQuery = function (field) {
		var clause = [String(field) + 'ISNOTEMPTY'];
		this._clauses.push(clause);
		return new GlideQueryCondition(this, clause);
	};
	GR.orderBy = function (field) {
		this._orders.push('ORDERBY' + field);
	};
	GR.orderByDesc = function (field) {
		this._orders.push('ORDERBYDESC' + field);
	};
	GR.setLimit = function (n) {
		this._limit = Math.max(0, Math.floor(Number(n)) || 0);
	};
	GR.chooseWindow = function (first, last) {
		this._offset = Math.max(0, Math.floor(Number(first)) || 0);
		this._limit = Math.max(0, (Math.floor(Number(last)) || 0) - this._offset);
	};
	GR.getEncodedQuery = function () {
		var parts = this._clauses.map(function (c) {
			return c.join('^OR');
		});
		return parts.concat(this._orders).join('^');
	};
	GR.query = function (field, value) {
		if (arguments.length === 2)
			this.addQuery(field, value);
		this._rows = N.query(this._table, this.getEncodedQuery(), this._limit, this._offset,
		                     this._secure, this._workflow);
		this._pos = -1;
		this._rec = null;
		this._origRec = null;
		this._total = null;
	};
	GR._query = GR.query;
	GR.hasNext = function () {
		return !!this._rows && this._pos + 1 < this._rows.length;
	};
	GR.next = function () {
		if (!this.hasNext()) {
			this._rec = null;
			this._origRec = null;
			return false;
		}
		this._pos++;
		this._load(this._rows[this._pos]);
		return true;
	};
	GR._next = GR.next;
	GR._load = function (rec) {
		this._rec = rec;
		this._origRec = {};
		for (var k in rec)
			this._origRec[k] = rec[k];
		this._changed = {};
		this._els = {};
		this._newRecord = false;
	};
	GR.getRowCount = function () {
		if (this._rows === null)
			return 0;
		if (this._limit < 0 && this._offset === 0)
			return this._rows.length;
		if (this._total === null)
			this._total = N.count(this._table, this.getEncodedQuery(), this._secure,
			                      this._workflow);
		return this._total;
	};
	GR.get = function (field, value) {
		var rec;
		if (arguments.length >= 2) {
			var q = cond(field, '=', value);
			var rows = N.query(this._table, q, 1, 0, this._secure, this._workflow);
			rec = rows.length ? rows[0] : null;
		} else {
			var id = str(field);
			rec = id ? N.get(this._table, id, this._secure, this._workflow) : null;
			if (!rec && id) {
				var d = N.fields(this._table);
				var key = d && d.number ? 'number' : null;
				if (key) {
					var r2 = N.query(this._table, cond(key, '=', id), 1, 0, this._secure,
					                  this._workflow);
					rec = r2.length ? r2[0] : null;
				}
			}
		}
		this._rows = rec ? [rec] : [];
		this._pos = rec ? 0 : -1;
		if (!rec) {
			this._rec = null;
			this._origRec = null;
			return false;
		}
		this._load(rec);
		return true;
	};
	GR.isValidRecord = function () {
		return !!this._rec && !this._newRecord && !!this._value('sys_id');
	};
	GR.isNewRecord = function () {
		return this._newRecord;
	};
	GR.initialize = function () {
		this._rec = {};
		this._origRec = {};
		this._changed = {};
		this._els = {};
		this._newRecord = true;
	};
	GR.newRecord = function () {
		this.initialize();
		var defaults = N.defaults(this._table) || {};
		for (var k in defaults)
			this._rec[k] = defaults[k];
		this._rec.sys_id = N.guid();
		this._changed.sys_id = true;
	};
	GR.getValue = function (name) {
		/* ServiceNow: null for an empty field. */
		var v = this._value(String(name));
		return v === '' ? null : v;
	};
	GR.setValue = function (name, v) {
		if (!this._rec)
			this._rec = {};
		name = String(name);
		this._rec[name] = str(v);
		this._changed[name] = true;
	};
	GR.getUniqueValue = function () {
		return this._value('sys_id') || null;
	};
	GR.getDisplayValue = function (name) {
		if (!this._rec)
			return '';
		if (name === undefined) {
			var d = N.fields(this._table);
			name = d && d._display ? d._display._name : 'sys_id';
		}
		name = String(name);
		var raw = this._value(name);
		return N.display(this._table, name, raw, this._value('sys_id'), this.getRecordClassName());
	};
	GR.getLink = function () {
		return this._table + '.do?sys_id=' + this._value('sys_id');
	};
	GR._changes = function () {
		var out = {};
		for (var k in this._changed)
			out[k] = this._rec[k] === undefined ? '' : this._rec[k];
		return out;
	};
	GR.insert = function () {
		if (!this._rec)
			this.initialize();
		var id = N.insert(this._table, this._changes(), this._secure, this._autoSys,
		                  this._workflow);
		if (!id)
			return null;
		var rec = N.get(this._table, id, false);
		if (rec)
			this._load(rec);
		return id;
	};
	GR.update = function () {
		if (!this._rec)
			return null;
		if (this._newRecord || !this._value('sys_id'))
			return this.insert();
		var id = this._value('sys_id');
		if (!N.update(this._table, id, this._changes(), this._secure, this._autoSys,
		              this._workflow))
			return null;
		var rec = N.get(this._table, id, false);
		if (rec)
			this._load(rec);
		return id;
	};
	GR.deleteRecord = function () {
		if (!this.isValidRecord())
			return false;
		return N.remove(this._table, this._value('sys_id'), this._secure, this._workflow);
	};
	GR.deleteMultiple = function () {
		var rows = N.query(this._table, this.getEncodedQuery(), this._limit, this._offset,
		                   this._secure, this._workflow);
		for (var i = 0; i < rows.length; i++)
			N.remove(this._table, rows[i].sys_id, this._secure, this._workflow);
	};
	GR.updateMultiple = function () {
		var rows = N.query(this._table, this.getEncodedQuery(), this._limit, this._offset,
		                   this._secure, this._workflow);
		var changes = this._changes();
		for (var i = 0; i < rows.length; i++)
			N.update(this._table, rows[i].sys_id, changes, this._secure, this._autoSys,
			         this._workflow);
	};
	GR.canRead = function () {
		return N.can(this._table, 'read', this._rec && !this._newRecord ? this._rec : null);
	};
	GR.canWrite = function () {
		return N.can(this._table, 'write', this._rec && !this._newRecord ? this._rec : null);
	};
	GR.canCreate = function () {
		return N.can(this._table, 'create', null);
	};
	GR.canDelete = function () {
		return N.can(this._table, 'delete', this._rec && !this._newRecord ? this._rec : null);
	};
	GR.setWorkflow = function (on) {
		this._workflow = !!on;
	};
	GR.autoSysFields = function (on) {
		this._autoSys = !!on;
	};
	GR.setAbortAction = function (on) {
		this._abort = !!on;
	};
	GR.isActionAborted = function () {
		return this._abort;
	};
	GR.getElement = function (name) {
		return element(this, String(name));
	};
	GR.isValidField = function (name) {
		var fi = info(this._table);
		return !!fi && String(name) in fi;
	};
	GR.toString = function () {
		return '[object GlideRecord]';
	};

	/* ---- GlideAggregate ---------------------------------------------------- */
	function GlideAggregate(table) {
		var ga = makeRecord(table, false);
		ga._aggs = [];
		ga._groups = [];
		ga._arows = null;
		ga._apos = -1;
		ga.addAggregate = function (fn, field) {
			this._aggs.push({fn: String(fn).toLowerCase(), field: field ? String(field) : ''});
		};
		ga.groupBy = function (field) {
			this._groups.push(String(field));
		};
		ga.query = function () {
			this._arows = N.aggregate(this._table, this.getEncodedQuery(), this._aggs,
			                          this._groups, this._secure);
			this._apos = -1;
		};
		ga.hasNext = function () {
			return !!this._arows && this._apos + 1 < this._arows.length;
		};
		ga.next = function () {
			if (!this.hasNext())
				return false;
			this._apos++;
			var row = this._arows[this._apos];
			var rec = {};
			for (var i = 0; i < this._groups.length; i++)
				rec[this._groups[i]] = row.groups[i];
			this._load(rec);
			return true;
		};
		ga.getAggregate = function (fn, field) {
			if (!this._arows || this._apos < 0)
				return null;
			var row = this._arows[this._apos];
			fn = String(fn).toLowerCase();
			if (fn === 'count' && !field)
				return row.count;
			if (fn === 'count')
				return row.count;
			var m = row[fn];
			return m && String(field) in m ? m[String(field)] : null;
		};
		ga.getRowCount = function () {
			return this._arows ? this._arows.length : 0;
		};
		return ga;
	}

	/* ---- GlideDateTime and GlideDuration ------------------------------------- */
	function GlideDateTime(v) {
		if (v instanceof GlideDateTime)
			this._t = v._t;
		else if (v === undefined || v === null || v === '')
			this._t = N.parseTime(N.time('nowDateTime'));
		else
			this._t = N.parseTime(str(v));
		if (this._t === null)
			this._t = 0;
	}
	var two = function (n) {
		return n < 10 ? '0' + n : '' + n;
	};
	function fmt(t) {
		var d = new Date(t * 1000);
		return d.getUTCFullYear() + '-' + two(d.getUTCMonth() + 1) + '-' + two(d.getUTCDate()) +
		       ' ' + two(d.getUTCHours()) + ':' + two(d.getUTCMinutes()) + ':' +
		       two(d.getUTCSeconds());
	}
	GlideDateTime.prototype.getValue = function () {
		return fmt(this._t);
	};
	GlideDateTime.prototype.toString = GlideDateTime.prototype.getValue;
	GlideDateTime.prototype.getDisplayValue = function () {
		return N.formatLocal(fmt(this._t));
	};
	GlideDateTime.prototype.setValue = function (v) {
		var t = N.parseTime(str(v));
		if (t !== null)
			this._t = t;
	};
	GlideDateTime.prototype.addSeconds = function (n) {
		this._t += Math.floor(Number(n) || 0);
	};
	GlideDateTime.prototype.add = function (ms) {
		if (ms instanceof GlideDuration)
			ms = ms._ms;
		this._t += Math.floor((Number(ms) || 0) / 1000);
	};
	GlideDateTime.prototype.addDaysUTC = function (n) {
		this._t += Math.floor(Number(n) || 0) * 86400;
	};
	GlideDateTime.prototype.addDays = GlideDateTime.prototype.addDaysUTC;
	GlideDateTime.prototype.compareTo = function (o) {
		var t = o instanceof GlideDateTime ? o._t : new GlideDateTime(o)._t;
		return this._t < t ? -1 : this._t > t ? 1 : 0;
	};
	GlideDateTime.prototype.equals = function (o) {
		return this.compareTo(o) === 0;
	};
	GlideDateTime.prototype.before = function (o) {
		return this.compareTo(o) < 0;
	};
	GlideDateTime.prototype.after = function (o) {
		return this.compareTo(o) > 0;
	};
	GlideDateTime.prototype.getNumericValue = function () {
		return this._t * 1000;
	};
	GlideDateTime.subtract = function (a, b) {
		return new GlideDuration((b._t - a._t) * 1000);
	};

	function GlideDuration(v) {
		this._ms = 0;
		if (typeof v === 'number')
			this._ms = v;
		else if (typeof v === 'string') {
			/* "D HH:MM:SS" or "HH:MM:SS" */
			var m = /^(?:(\d+) )?(\d+):(\d\d):(\d\d)$/.exec(v);
			if (m)
				this._ms = (((Number(m[1] || 0) * 24 + Number(m[2])) * 60 + Number(m[3])) * 60 +
				            Number(m[4])) * 1000;
		}
	}
	GlideDuration.prototype.getNumericValue = function () {
		return this._ms;
	};
	GlideDuration.prototype.getValue = function () {
		return fmt(Math.floor(this._ms / 1000));
	};
	GlideDuration.prototype.getDurationValue = function () {
		var s = Math.floor(this._ms / 1000);
		var d = Math.floor(s / 86400);
		s -= d * 86400;
		var t = two(Math.floor(s / 3600)) + ':' + two(Math.floor(s / 60) % 60) + ':' + two(s % 60);
		return d ? d + ' ' + t : t;
	};
	GlideDuration.prototype.getDisplayValue = function () {
		var s = Math.floor(this._ms / 1000), parts = [];
		var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
		if (d)
			parts.push(d + (d === 1 ? ' Day' : ' Days'));
		if (h)
			parts.push(h + (h === 1 ? ' Hour' : ' Hours'));
		if (m)
			parts.push(m + (m === 1 ? ' Minute' : ' Minutes'));
		if (!parts.length)
			parts.push((s % 60) + ' Seconds');
		return parts.join(' ');
	};
	GlideDuration.prototype.add = function (o) {
		return new GlideDuration(this._ms + (o instanceof GlideDuration ? o._ms : Number(o) || 0));
	};

	/* ---- gs ------------------------------------------------------------------ */
	function fmtMsg(msg, args) {
		msg = str(msg);
		for (var i = 0; i < args.length; i++)
			msg = msg.split('{' + i + '}').join(str(args[i]));
		return msg;
	}
	function rest(a, n) {
		return Array.prototype.slice.call(a, n);
	}
	var user = null;
	function me() {
		if (!user)
			user = N.user();
		return user;
	}
	var gs = {
		info: function (m) { N.log('info', fmtMsg(m, rest(arguments, 1)), null); },
		warn: function (m) { N.log('warning', fmtMsg(m, rest(arguments, 1)), null); },
		error: function (m) { N.log('error', fmtMsg(m, rest(arguments, 1)), null); },
		debug: function (m) { N.log('debug', fmtMsg(m, rest(arguments, 1)), null); },
		log: function (m, source) { N.log('info', str(m), source === undefined ? null : str(source)); },
		logWarning: function (m, source) { N.log('warning', str(m), source === undefined ? null : str(source)); },
		logError: function (m, source) { N.log('error', str(m), source === undefined ? null : str(source)); },
		print: function (m) { N.log('info', str(m), null); },
		getUserID: function () { return me().id; },
		getUserName: function () { return me().name; },
		getUserDisplayName: function () { return me().display; },
		getUser: function () {
			var u = me();
			return {
				getID: function () { return u.id; },
				getName: function () { return u.name; },
				getDisplayName: function () { return u.display; },
				hasRole: function (r) { return N.hasRole(str(r)); },
				isMemberOf: function () { return false; }
			};
		},
		hasRole: function (r) { return N.hasRole(str(r)); },
		getProperty: function (name, dflt) {
			var v = N.prop(str(name));
			return v === null ? (dflt === undefined ? null : dflt) : v;
		},
		setProperty: function (name, value) { N.setProp(str(name), str(value)); },
		nowDateTime: function () { return N.formatLocal(N.time('nowDateTime')); },
		nowNoTZ: function () { return N.time('nowDateTime'); },
		now: function () { return N.formatLocal(N.time('nowDateTime')).substring(0, 10); },
		dateGenerate: function (d, t) { return N.time('dateGenerate', str(d), t === undefined ? 'start' : str(t)); },
		eventQueue: function (name, gr, p1, p2, queue) {
			N.event(str(name), gr ? gr.getTableName() : '', gr ? (gr.getUniqueValue() || '') : '',
			        str(p1), str(p2), queue === undefined ? '' : str(queue));
		},
		addInfoMessage: function (m) { N.message('info', str(m)); },
		addErrorMessage: function (m) { N.message('error', str(m)); },
		generateGUID: function () { return N.guid(); },
		// Execute Now: a one-off run of a scheduled script job, due at once
		// (script/background.h); answers the queued sys_trigger's sys_id.
		executeNow: function (job) {
			var t = new GlideRecord('sys_trigger');
			t.initialize();
			t.setValue('name', job.getValue('name') || 'Execute Now');
			t.setValue('job_id', 'sysauto_script.execute_now');
			t.setValue('document', 'sysauto_script');
			t.setValue('document_key', job.getUniqueValue());
			t.setValue('next_action', new GlideDateTime().getValue());
			t.setValue('max_attempts', '1');
			return t.insert();
		},
		nil: function (v) {
			return v === null || v === undefined || str(v) === '';
		},
		getMessage: function (m, args) {
			return fmtMsg(m, args instanceof Array ? args : args === undefined ? [] : [args]);
		},
		tableExists: function (t) { return N.fields(str(t)) !== null; },
		include: function (name) { return !!N.resolve(str(name)); }
	};
	['minutesAgo', 'hoursAgo', 'daysAgo', 'weeksAgo', 'monthsAgo', 'quartersAgo', 'yearsAgo']
	    .forEach(function (p) {
		    ['', 'Start', 'End'].forEach(function (s) {
			    gs[p + s] = function (n) {
				    return N.time(p + s, n === undefined ? '0' : str(n));
			    };
		    });
	    });
	['Today', 'Yesterday', 'Tomorrow', 'ThisWeek', 'LastWeek', 'NextWeek', 'ThisMonth',
	 'LastMonth', 'NextMonth', 'ThisQuarter', 'LastQuarter', 'NextQuarter', 'ThisYear',
	 'LastYear', 'NextYear'].forEach(function (w) {
		gs['beginningOf' + w] = function () { return N.time('beginningOf' + w); };
		gs['endOf' + w] = function () { return N.time('endOf' + w); };
	});

	/* ---- Class.create, Object.extendsObject ----------------------------------- */
	var Class = {
		create: function () {
			return function () {
				if (this.initialize)
					this.initialize.apply(this, arguments);
			};
		}
	};
	Object.defineProperty(Object, 'extendsObject', {
		value: function (parent, props) {
			var o = Object.create(typeof parent === 'function' ? parent.prototype : parent);
			for (var k in props)
				o[k] = props[k];
			return o;
		},
		writable: true,
		configurable: true
	});

	/* ---- sn_ws: outbound REST (restmsg.c) ---------------------------- */
	// The record a script is about (current), for the log and the queue's order.
	function aboutRecord() {
		var c = G.current;
		if (c instanceof GlideRecordBase && c.getUniqueValue())
			return [c.getTableName(), c.getUniqueValue()];
		return [null, null];
	}
	function RESTResponseV2(r, async) {
		this._r = r;
		this._async = async || null;
	}
	RESTResponseV2.prototype = {
		_get: function () {
			// A response of executeAsync waits on first use, as waitForResponse.
			if (this._async && !this._r.done)
				this.waitForResponse(Number(N.prop('glide.http.outbound.max_timeout')) || 30);
			return this._r;
		},
		waitForResponse: function (seconds) {
			if (this._async && !this._r.done)
				this._r = N.restWait(this._async, seconds === undefined ? 30 : Number(seconds));
		},
		getStatusCode: function () { return this._get().status; },
		getBody: function () { return this._get().body; },
		getHeader: function (name) {
			var h = this._get().headers, n = String(name).toLowerCase();
			for (var k in h)
				if (k.toLowerCase() === n)
					return h[k];
			return null;
		},
		getHeaders: function () {
			var h = this._get().headers, o = {};
			for (var k in h)
				o[k] = h[k];
			return o;
		},
		haveError: function () {
			var r = this._get();
			return r.errorCode !== 0 || r.status >= 400 || r.status === 0;
		},
		getErrorCode: function () { return this._get().errorCode; },
		getErrorMessage: function () { return this._get().error; },
		getQueryString: function () { return ''; }
	};
	function RESTMessageV2(name, method) {
		if (name !== undefined && name !== null && name !== '')
			this._s = N.restLoad(str(name), str(method));
		else
			this._s = { method: 'GET', endpoint: '', body: null, headers: [], params: [],
			            vars: {}, auth: 'none', profile: '', source: null };
		this._s.user = null;
		this._s.password = null;
		this._s.timeout = 0;
	}
	function setPair(list, name, value) {
		name = str(name);
		for (var i = 0; i < list.length; i++)
			if (list[i][0].toLowerCase() === name.toLowerCase()) {
				list[i][1] = str(value);
				return;
			}
		list.push([name, str(value)]);
	}
	RESTMessageV2.prototype = {
		setEndpoint: function (u) { this._s.endpoint = str(u); },
		getEndpoint: function () { return this._s.endpoint; },
		setHttpMethod: function (m) { this._s.method = str(m).toUpperCase(); },
		setRequestHeader: function (n, v) { setPair(this._s.headers, n, v); },
		getRequestHeader: function (n) {
			for (var i = 0; i < this._s.headers.length; i++)
				if (this._s.headers[i][0].toLowerCase() === str(n).toLowerCase())
					return this._s.headers[i][1];
			return '';
		},
		getRequestHeaders: function () {
			var o = {};
			for (var i = 0; i < this._s.headers.length; i++)
				o[this._s.headers[i][0]] = this._s.headers[i][1];
			return o;
		},
		setRequestBody: function (b) { this._s.body = str(b); },
		getRequestBody: function () { return this._s.body === null ? '' : this._s.body; },
		setStringParameter: function (n, v) { this._s.vars[str(n)] = [str(v), true]; },
		setStringParameterNoEscape: function (n, v) { this._s.vars[str(n)] = [str(v), false]; },
		setQueryParameter: function (n, v) { setPair(this._s.params, n, v); },
		setBasicAuth: function (u, p) {
			this._s.auth = 'basic';
			this._s.profile = '';
			this._s.user = str(u);
			this._s.password = str(p);
		},
		setAuthenticationProfile: function (type, id) {
			var t = str(type).toLowerCase();
			this._s.auth = t === 'oauth2' ? 'oauth2' : t === 'basic' ? 'basic' : 'none';
			this._s.profile = str(id);
			this._s.user = this._s.password = null;
		},
		setHttpTimeout: function (ms) { this._s.timeout = Number(ms) || 0; },
		execute: function () {
			var about = aboutRecord();
			return new RESTResponseV2(N.restExecute(this._s, about[0], about[1]));
		},
		executeAsync: function () {
			var about = aboutRecord();
			var key = about[0] ? about[0] + '/' + about[1] : null;
			var id = N.restEnqueue(this._s, key, about[0], about[1]);
			return new RESTResponseV2({ done: false }, id);
		}
	};
	G.sn_ws = { RESTMessageV2: RESTMessageV2, RESTResponseV2: RESTResponseV2 };

	G.GlideRecord = GlideRecord;
	G.GlideRecordSecure = GlideRecordSecure;
	G.GlideElement = GlideElement;
	G.GlideAggregate = GlideAggregate;
	G.GlideDateTime = GlideDateTime;
	G.GlideDuration = GlideDuration;
	G.GlideQueryCondition = GlideQueryCondition;
	G.gs = gs;
	// The UI action "Execute Now" calls this on ServiceNow.
	G.SncTriggerSynchronizer = { executeNow: function (job) { return gs.executeNow(job); } };
	G.Class = Class;
	return {
		/* For script.c: a GlideRecord positioned on a raw record (current). */
		/* changes() compare with prev (the stored record; null on insert:
		 * every value set is a change). */
		bind: function (table, rec, isNew, prev) {
			var gr = makeRecord(table, false);
			if (rec) {
				gr._load(rec);
				gr._rows = [rec];
				gr._pos = 0;
				gr._newRecord = !!isNew;
				gr._origRec = {};
				if (prev)
					for (var k in prev)
						gr._origRec[k] = prev[k];
			}
			return gr;
		},
		changes: function (gr) {
			return gr._changes();
		},
		aborted: function (gr) {
			return gr._abort;
		},
		str: str
	};
})
