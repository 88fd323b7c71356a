"""list_read: the element at `index`."""


def run(ctx, ls, index):
    return ls.read(int(index))
