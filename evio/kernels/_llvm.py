"""LLVM-level helpers for Numba kernels: a prefetch hint, an unaligned 64-bit load and a vector
decode of the timestamps of 8 packed ``EVENT_DTYPE`` records.

All three are written in portable LLVM IR (no target-specific intrinsics); LLVM lowers them to
whatever the host CPU has (one ``vpermt2b`` per shuffle with AVX-512 VBMI, byte shuffles with
SSE/AVX2, plain loads elsewhere). Byte offsets are not bounds-checked: callers validate them.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

I8, I32, I64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
#: Bytes per packed ``EVENT_DTYPE`` record (t int64, x uint16, y uint16, p uint8).
RECORD = 13


def _byte_address(context, builder, array_type, array, byte_offset):
    ary = context.make_array(array_type)(context, builder, array)
    return builder.gep(builder.bitcast(ary.data, I8.as_pointer()), [byte_offset])


@intrinsic
def prefetch(typingctx, array, index):
    """A read prefetch of ``array[index]`` into every cache level; never faults (``index`` may lie past the end)."""
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        offset = builder.mul(args[1], context.get_constant(types.intp, array_type.dtype.bitwidth // 8))
        address = _byte_address(context, builder, array_type, args[0], offset)
        fnty = ir.FunctionType(ir.VoidType(), [I8.as_pointer(), I32, I32, I32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(fn, [address, ir.Constant(I32, 0), ir.Constant(I32, 3), ir.Constant(I32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def load_u64(typingctx, array, byte_offset):
    """The 8 bytes of ``array`` at ``byte_offset`` as a little-endian uint64 (any alignment)."""
    sig = types.uint64(array, byte_offset)

    def codegen(context, builder, signature, args):
        address = _byte_address(context, builder, signature.args[0], args[0], args[1])
        return builder.load(builder.bitcast(address, I64.as_pointer()), align=1)

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
        block = builder.load(builder.bitcast(address, block_type.as_pointer()), align=1)
        picks = ir.Constant(ir.VectorType(I32, 64), [RECORD * j + b for j in range(8) for b in range(8)])
        t_type = ir.VectorType(I64, 8)
        t = builder.bitcast(builder.shuffle_vector(block, ir.Constant(block_type, ir.Undefined), picks), t_type)
        first = builder.insert_element(ir.Constant(t_type, ir.Undefined), args[2], ir.Constant(I32, 0))
        before = builder.shuffle_vector(first, t, ir.Constant(ir.VectorType(I32, 8), [0, 8, 9, 10, 11, 12, 13, 14]))
        mask = builder.zext(builder.bitcast(builder.icmp_signed("<", t, before), ir.IntType(8)), I64)
        result = context.get_constant_undef(ret)
        result = builder.insert_value(result, mask, 0)
        return builder.insert_value(result, builder.extract_element(t, ir.Constant(I32, 7)), 1)

    return sig, codegen

