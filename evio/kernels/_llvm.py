"""LLVM-level helpers for the Numba kernels, each with an exact scalar twin in its caller:

- ``prefetch``, ``load_u64`` and ``t_decreases8`` (the timestamps of 8 packed ``EVENT_DTYPE``
  records): the byte path of ``frames.count_ranges``;
- ``aedat2_block8``: 8 AEDAT 2.0 words into 8 records (``aer.aedat2_decode``);
- ``aedat3_polarity8``: 8 AEDAT 3.1 polarity events into 8 records (``aer.aedat3_decode``);
- ``evt2_block8``: 8 EVT 2.0 CD words into 8 records (``prophesee.decode_evt2_into``).

All are written in portable LLVM IR (no target-specific intrinsics); LLVM lowers them to
whatever the host CPU has (one ``vpermt2b`` per shuffle with AVX-512 VBMI, byte shuffles with
SSE/AVX2, plain loads elsewhere). Byte offsets are not bounds-checked: callers validate them.
Every load, address computation and intrinsic name states its types, so the IR is the same with
llvmlite's typed pointers (its default up to 0.50) or opaque ones
(``LLVMLITE_ENABLE_IR_LAYER_TYPED_POINTERS=0``, the only kind once typed pointers go).

The callers take these paths only when given the record bytes (``evio.events.record_bytes``), which
``EVIO_SCALAR_KERNELS=1`` withholds. Numba's on-disk cache keys a kernel on its own source file
only; ``evio.kernels.drop_stale_caches`` (run when ``evio.kernels`` is imported) deletes the cached
kernels whenever this module changes.
"""

from __future__ import annotations

import inspect

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

I8, I32, I64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
#: Bytes per packed ``EVENT_DTYPE`` record (t int64, x uint16, y uint16, p uint8).
RECORD = 13
#: Whether this llvmlite's builder takes the element types of loads and GEPs (``typ=``,
#: ``source_etype=``), which opaque pointers need; older ones (numba 0.59's llvmlite 0.42) read
#: them from the typed pointer.
_EXPLICIT_TYPES = ("typ" in inspect.signature(ir.IRBuilder.load).parameters
                   and "source_etype" in inspect.signature(ir.IRBuilder.gep).parameters)


def _advance(builder, pointer, byte_offset):
    """``pointer`` plus ``byte_offset`` bytes, as a byte pointer."""
    address = builder.bitcast(pointer, I8.as_pointer())
    if _EXPLICIT_TYPES:
        return builder.gep(address, [byte_offset], source_etype=I8)
    return builder.gep(address, [byte_offset])


def _load(builder, address, typ):
    """The ``typ`` value at byte ``address`` (any alignment)."""
    pointer = builder.bitcast(address, typ.as_pointer())
    if _EXPLICIT_TYPES:
        return builder.load(pointer, typ=typ, align=1)
    return builder.load(pointer, align=1)


def _store(builder, value, address):
    """Store ``value`` at byte ``address`` (any alignment)."""
    builder.store(value, builder.bitcast(address, value.type.as_pointer()), align=1)


def _prefetch(builder, address):
    """A read prefetch of byte ``address`` into every cache level (the intrinsic's name mangles the
    pointer type: ``p0i8`` for a typed ``i8*``, ``p0`` for an opaque ``ptr``)."""
    fnty = ir.FunctionType(ir.VoidType(), [address.type, I32, I32, I32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch." + address.type.intrinsic_name)
    builder.call(fn, [address, ir.Constant(I32, 0), ir.Constant(I32, 3), ir.Constant(I32, 1)])


def _byte_address(context, builder, array_type, array, byte_offset):
    ary = context.make_array(array_type)(context, builder, array)
    return _advance(builder, ary.data, byte_offset)


@intrinsic
def store_record(typingctx, raw, byte_offset, t, xy, p):
    """Store one ``EVENT_DTYPE`` record at ``raw[byte_offset:]``: int64 ``t``, then ``xy`` (x | y << 16)
    as 4 bytes and ``p`` as 1 byte (13 bytes written, any alignment)."""
    sig = types.void(raw, byte_offset, t, xy, p)

    def codegen(context, builder, signature, args):
        base = _byte_address(context, builder, signature.args[0], args[0], args[1])
        _store(builder, args[2], base)
        _store(builder, builder.trunc(args[3], I32), _advance(builder, base, ir.Constant(I64, 8)))
        _store(builder, builder.trunc(args[4], I8), _advance(builder, base, ir.Constant(I64, 12)))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def prefetch(typingctx, array, index):
    """A read prefetch of ``array[index]`` into every cache level; never faults (``index`` may lie past the end)."""
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        offset = builder.mul(args[1], context.get_constant(types.intp, array_type.dtype.bitwidth // 8))
        _prefetch(builder, _byte_address(context, builder, array_type, args[0], offset))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def load_u64(typingctx, array, byte_offset):
    """The 8 bytes of ``array`` at ``byte_offset`` as a little-endian uint64 (any alignment)."""
    sig = types.uint64(array, byte_offset)

    def codegen(context, builder, signature, args):
        address = _byte_address(context, builder, signature.args[0], args[0], args[1])
        return _load(builder, address, I64)

    return sig, codegen


@intrinsic
def t_decreases8(typingctx, array, byte_offset, prev_t):
    """For the 8 ``EVENT_DTYPE`` records starting at ``byte_offset`` (104 bytes read):
    ``(mask, t7)``: bit ``j`` of ``mask`` is set where ``t[j] < t[j - 1]`` (``t[-1]`` = ``prev_t``,
    signed comparison), ``t7`` the last record's ``t``.
    """
    ret = types.UniTuple(types.int64, 2)
    sig = ret(array, byte_offset, prev_t)

    def codegen(context, builder, signature, args):
        address = _byte_address(context, builder, signature.args[0], args[0], args[1])
        block_type = ir.VectorType(I8, 8 * RECORD)
        block = _load(builder, address, block_type)
        picks = ir.Constant(ir.VectorType(I32, 64), [RECORD * j + b for j in range(8) for b in range(8)])
        t = builder.bitcast(builder.shuffle_vector(block, ir.Constant(block_type, ir.Undefined), picks), V64)
        before = _shifted_in(builder, args[2], t)
        mask = builder.zext(builder.bitcast(builder.icmp_signed("<", t, before), ir.IntType(8)), I64)
        return _flag_and_last(context, builder, ret, mask, t)

    return sig, codegen


V32, V64 = ir.VectorType(I32, 8), ir.VectorType(I64, 8)


def _const(value, vec=V32):
    return ir.Constant(vec, [value] * vec.count)


def _shifted_in(builder, first, vec):
    """``[first, vec[0], ..., vec[6]]``: each lane's predecessor, ``first`` before lane 0."""
    head = builder.insert_element(ir.Constant(vec.type, ir.Undefined), first, ir.Constant(I32, 0))
    return builder.shuffle_vector(head, vec, ir.Constant(V32, [0, 8, 9, 10, 11, 12, 13, 14]))


def _drops_by_half(builder, first, ts):
    """Whether any int64 lane of ``ts`` lies more than 2**31 below its predecessor (``first`` for lane 0)."""
    return _any(builder, builder.icmp_signed(">", builder.sub(_shifted_in(builder, first, ts), ts),
                                             _const(1 << 31, V64)))


def _lanes(builder, pairs, start):
    """Lanes ``start, start + 2, ...`` of a ``<16 x i32>`` vector as ``<8 x i32>``."""
    return builder.shuffle_vector(pairs, ir.Constant(pairs.type, ir.Undefined), ir.Constant(V32, list(range(start, 16, 2))))


def _splat(builder, value, lanes):
    vec_type = ir.VectorType(value.type, lanes)
    one = builder.insert_element(ir.Constant(vec_type, ir.Undefined), value, ir.Constant(I32, 0))
    return builder.shuffle_vector(one, ir.Constant(vec_type, ir.Undefined),
                                  ir.Constant(ir.VectorType(I32, lanes), [0] * lanes))


def _any(builder, mask):
    return builder.icmp_unsigned("!=", builder.bitcast(mask, ir.IntType(mask.type.count)),
                                 ir.Constant(ir.IntType(mask.type.count), 0))


def _flag_and_last(context, builder, ret, flag, ts):
    """The ``(flag, ts[7])`` tuple several helpers return."""
    result = builder.insert_value(context.get_constant_undef(ret), flag, 0)
    return builder.insert_value(result, builder.extract_element(ts, ir.Constant(I32, 7)), 1)


def _xyp(builder, x, y, p):
    """``x | y << 16 | p << 32`` of ``<8 x i64>`` lanes (x, y < 2**16, p 0 or 1): bytes 8-12 of a record."""
    return builder.or_(x, builder.or_(builder.shl(y, _const(16, V64)), builder.shl(p, _const(32, V64))))


def _store_records8(builder, t, xyp, dst):
    """Store 8 ``EVENT_DTYPE`` records (104 bytes at ``dst``) from ``<8 x i64>`` ``t`` and ``xyp``
    (``x | y << 16 | p << 32``) with one byte shuffle."""
    b64 = ir.VectorType(I8, 64)
    picks = [v for j in range(8) for v in [8 * j + b for b in range(8)] + [64 + 8 * j + b for b in range(5)]]
    records = builder.shuffle_vector(builder.bitcast(t, b64), builder.bitcast(xyp, b64),
                                     ir.Constant(ir.VectorType(I32, 8 * RECORD), picks))
    _store(builder, records, dst)


def aedat2_block8(address_layout, orientation):
    """An intrinsic ``(buf, byte_offset, raw, raw_offset, width, height, prev_ts, t_offset) -> (flags, ts7)``
    decoding the 8 big-endian AEDAT 2.0 words (address, timestamp) at ``buf[byte_offset:]`` into 8
    ``EVENT_DTYPE`` records stored at ``raw[raw_offset:]`` (104 bytes), for one fixed address
    layout (``"dvs128"`` or ``"davis"``) and orientation (``"caer"``, ``"jaer"`` or ``"sj"``, as
    ``aer.ORIENT_*``). ``t = signed 32-bit timestamp + t_offset``. ``flags``: bit 0 where a word is
    not a polarity event inside ``width x height`` (its record is then meaningless), bit 1 where a
    timestamp drops by more than 2**31 from the one before (``prev_ts`` for the first): the caller
    must then decode the words again exactly. ``ts7``: the last word's signed timestamp.
    """
    if address_layout == "dvs128":
        skip_mask, x_shift, x_mask, y_shift, y_mask = 0x8000, 1, 0x7F, 8, 0x7F
    elif address_layout == "davis":
        skip_mask, x_shift, x_mask, y_shift, y_mask = 0x80000400, 12, 0x3FF, 22, 0x1FF
    else:
        raise ValueError(address_layout)
    if orientation not in ("caer", "jaer", "sj"):
        raise ValueError(orientation)

    @intrinsic
    def block8(typingctx, buf, byte_offset, raw, raw_offset, width, height, prev_ts, t_offset):
        ret = types.UniTuple(types.int64, 2)
        sig = ret(buf, byte_offset, raw, raw_offset, width, height, prev_ts, t_offset)

        def codegen(context, builder, signature, args):
            def const(value):
                return _const(value, V64)

            src = _byte_address(context, builder, signature.args[0], args[0], args[1])
            words = _load(builder, src, V64)
            bswap = cgutils.get_or_insert_function(builder.module, ir.FunctionType(V64, [V64]), "llvm.bswap.v8i64")
            words = builder.call(bswap, [words])
            address = builder.lshr(words, const(32))
            ts = builder.sext(builder.trunc(words, V32), V64)
            wraps = _drops_by_half(builder, args[6], ts)
            xr = builder.and_(builder.lshr(address, const(x_shift)), const(x_mask))
            yr = builder.and_(builder.lshr(address, const(y_shift)), const(y_mask))
            width_v, height_v = _splat(builder, args[4], 8), _splat(builder, args[5], 8)
            bad = builder.or_(builder.icmp_unsigned("!=", builder.and_(address, const(skip_mask)), const(0)),
                              builder.or_(builder.icmp_unsigned(">=", xr, width_v),
                                          builder.icmp_unsigned(">=", yr, height_v)))
            if address_layout == "dvs128":
                on = builder.xor(builder.and_(address, const(1)), const(1))
            else:
                on = builder.and_(builder.lshr(address, const(11)), const(1))
            last_x = builder.sub(width_v, const(1))
            last_y = builder.sub(height_v, const(1))
            if orientation == "caer":
                x, y = builder.sub(last_x, xr), builder.sub(last_y, yr)
            elif orientation == "jaer":
                x, y = builder.sub(last_x, xr), yr
            else:
                x, y = builder.sub(last_x, yr), builder.sub(last_y, xr)
            xyp = _xyp(builder, builder.and_(x, const(0xFFFF)), builder.and_(y, const(0xFFFF)), on)
            t = builder.add(ts, _splat(builder, args[7], 8))
            _store_records8(builder, t, xyp, _byte_address(context, builder, signature.args[2], args[2], args[3]))
            flags = builder.or_(builder.zext(_any(builder, bad), I64),
                                builder.shl(builder.zext(wraps, I64), ir.Constant(I64, 1)))
            return _flag_and_last(context, builder, ret, flags, ts)

        return sig, codegen

    return block8


@intrinsic
def evt2_block8(typingctx, words, index, raw, raw_offset, t_base):
    """The 8 EVT 2.0 words ``words[index:index + 8]`` (uint32) as 8 ``EVENT_DTYPE`` records stored at
    ``raw[raw_offset:]`` (104 bytes), each CD event's ``t = t_base + its 6 low timestamp bits``.
    Returns True where any word is not a CD event (type 0 or 1): the records are then meaningless
    and the caller decodes the words again one by one."""
    sig = types.boolean(words, index, raw, raw_offset, t_base)

    def codegen(context, builder, signature, args):
        const = _const
        offset = builder.mul(args[1], context.get_constant(types.intp, 4))
        src = _byte_address(context, builder, signature.args[0], args[0], offset)
        w = _load(builder, src, V32)
        kind = builder.lshr(w, const(28))
        not_cd = _any(builder, builder.icmp_unsigned(">", kind, const(1)))
        low = builder.zext(builder.and_(builder.lshr(w, const(22)), const(63)), V64)
        t = builder.add(low, _splat(builder, args[4], 8))
        x = builder.zext(builder.and_(builder.lshr(w, const(11)), const(2047)), V64)
        y = builder.zext(builder.and_(w, const(2047)), V64)
        xyp = _xyp(builder, x, y, builder.zext(builder.and_(kind, const(1)), V64))
        _store_records8(builder, t, xyp, _byte_address(context, builder, signature.args[2], args[2], args[3]))
        return not_cd

    return sig, codegen


@intrinsic
def aedat3_polarity8(typingctx, buf, byte_offset, raw, raw_offset, width, height, t_base):
    """The 8 standard AEDAT 3.1 polarity events (8 bytes each: data, timestamp, little-endian) at
    ``buf[byte_offset:]`` as 8 ``EVENT_DTYPE`` records stored at ``raw[raw_offset:]``, ``t = t_base |
    timestamp``. Returns True where any event is invalid (bit 0 clear) or outside ``width x
    height``: the records are then meaningless and the caller decodes the events one by one."""
    sig = types.boolean(buf, byte_offset, raw, raw_offset, width, height, t_base)

    def codegen(context, builder, signature, args):
        const = _const
        src = _byte_address(context, builder, signature.args[0], args[0], args[1])
        pairs = _load(builder, src, ir.VectorType(I32, 16))
        data = _lanes(builder, pairs, 0)
        ts = builder.zext(_lanes(builder, pairs, 1), V64)
        x = builder.zext(builder.and_(builder.lshr(data, const(17)), const(0x7FFF)), V64)
        y = builder.zext(builder.and_(builder.lshr(data, const(2)), const(0x7FFF)), V64)
        p = builder.zext(builder.and_(builder.lshr(data, const(1)), const(1)), V64)
        bad = builder.or_(builder.icmp_unsigned("==", builder.and_(data, const(1)), const(0)),
                          builder.or_(builder.icmp_unsigned(">=", x, _splat(builder, args[4], 8)),
                                      builder.icmp_unsigned(">=", y, _splat(builder, args[5], 8))))
        xyp = _xyp(builder, x, y, p)
        t = builder.or_(ts, _splat(builder, args[6], 8))
        _store_records8(builder, t, xyp, _byte_address(context, builder, signature.args[2], args[2], args[3]))
        return _any(builder, bad)

    return sig, codegen
