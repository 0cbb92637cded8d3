// CICUData has no C interface: it only defines ICU's data symbol (icu-data.S).
