"""list_write: the list with `value` at `index` (a dynamic list grows to fit)."""


def run(ctx, ls, index, value):
    return ls.write(int(index), value)
