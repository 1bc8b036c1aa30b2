def transform(x):
    return x * 10
