//! Data loaders: formats, orientation, splits and bad files. Tests on the real data sets run when
//! their files are there (`$KINDLING_DATA`, Debian's Fashion-MNIST) and skip visibly otherwise
//! (`common::require_data`; fatal under `KINDLING_REQUIRE_ALL=1`, as `.ci/run` sets it).

mod common;

use kindling::data::{self, cifar10, hub, idx, DataOptions, DatasetName, Pixels, Split};
use std::io::Write;
use std::path::Path;

/// A CIFAR-10 record whose pixel (c, y, x) is `c*100 + y*3 + x` mod 256.
fn record(label: u8) -> Vec<u8> {
    let mut r = vec![label];
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                r.push(((c * 100 + y * 3 + x) % 256) as u8);
            }
        }
    }
    r
}

fn u8s(p: &Pixels) -> &[u8] {
    match p {
        Pixels::U8(v) => v,
        _ => panic!("expected u8 pixels"),
    }
}

#[test]
fn cifar_any_number_of_records_and_orientation() {
    let dir = common::tmpdir("cifar-ok");
    let bytes: Vec<u8> = [record(3), record(9), record(0)].concat();
    std::fs::write(dir.join("data_batch_1.bin"), &bytes).unwrap();
    let ds = cifar10::load(&dir, Split::Train).unwrap();
    assert_eq!(ds.len(), 3);
    assert_eq!(ds.labels, vec![3, 9, 0]);
    assert_eq!(ds.shape, [3, 32, 32]);
    // Pixel (c=1, y=2, x=5) of the first image.
    assert_eq!(u8s(&ds.pixels)[32 * 32 + 2 * 32 + 5], (100 + 6 + 5) as u8);
    assert_eq!(ds.classes[0], "airplane");
    // Only the training split is there: the test split is a clear "not found".
    let err = cifar10::load(&dir, Split::Test).unwrap_err().to_string();
    assert!(err.contains("test_batch.bin") && err.contains("`data_dir`"), "{err}");
}

#[test]
fn cifar_test_split_alone() {
    let dir = common::tmpdir("cifar-test-only");
    std::fs::write(dir.join("test_batch.bin"), record(4)).unwrap();
    assert_eq!(cifar10::load(&dir, Split::Test).unwrap().labels, vec![4]);
}

#[test]
fn cifar_bad_files() {
    let dir = common::tmpdir("cifar-bad");
    let mut truncated = record(1);
    truncated.pop();
    std::fs::write(dir.join("data_batch_1.bin"), &truncated).unwrap();
    let err = cifar10::load(&dir, Split::Train).unwrap_err().to_string();
    assert!(err.contains("data_batch_1.bin") && err.contains("whole number"), "{err}");

    std::fs::write(dir.join("data_batch_1.bin"), record(10)).unwrap();
    let err = cifar10::load(&dir, Split::Train).unwrap_err().to_string();
    assert!(err.contains("label byte 10"), "{err}");

    std::fs::write(dir.join("data_batch_1.bin"), record(1)).unwrap();
    std::fs::write(dir.join("data_batch_3.bin"), record(1)).unwrap();
    let err = cifar10::load(&dir, Split::Train).unwrap_err().to_string();
    assert!(err.contains("data_batch_2.bin"), "{err}");

    std::fs::remove_file(dir.join("data_batch_3.bin")).unwrap();
    std::fs::create_dir(dir.join("data_batch_2.bin")).unwrap();
    let err = cifar10::load(&dir, Split::Train).unwrap_err().to_string();
    assert!(err.contains("directory"), "{err}");
}

fn idx_bytes(magic: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, magic];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn idx_plain_and_gz() {
    let dir = common::tmpdir("idx");
    let pixels: Vec<u8> = (0..2 * 28 * 28).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), gz(&idx_bytes(3, &[2, 28, 28], &pixels))).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx_bytes(1, &[2], &[7, 1])).unwrap();
    let ds = idx::load(&dir, Split::Train, "mnist", &idx::MNIST_CLASSES).unwrap();
    assert_eq!(ds.labels, vec![7, 1]);
    assert_eq!(ds.shape, [1, 28, 28]);
    assert_eq!(u8s(&ds.pixels), &pixels[..]);
}

#[test]
fn idx_bad_files() {
    let dir = common::tmpdir("idx-bad");
    let p = dir.join("train-images-idx3-ubyte");
    std::fs::write(&p, idx_bytes(1, &[2], &[0, 0])).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx_bytes(1, &[2], &[7, 1])).unwrap();
    let err = idx::load(&dir, Split::Train, "mnist", &idx::MNIST_CLASSES).unwrap_err().to_string();
    assert!(err.contains("magic"), "{err}");

    std::fs::write(&p, idx_bytes(3, &[2, 28, 28], &[0; 100])).unwrap();
    let err = idx::load(&dir, Split::Train, "mnist", &idx::MNIST_CLASSES).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");

    std::fs::remove_file(&p).unwrap();
    let mut corrupt = gz(&idx_bytes(3, &[2, 28, 28], &[0; 2 * 784]));
    let n = corrupt.len();
    corrupt[n / 2] ^= 0xff;
    corrupt.truncate(n - 8);
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), corrupt).unwrap();
    let err = idx::load(&dir, Split::Train, "mnist", &idx::MNIST_CLASSES).unwrap_err().to_string();
    assert!(err.contains("gzip") || err.contains("corrupt"), "{err}");
}

/// Writes a parquet table shaped like the Hub's image data sets: `img {bytes, path}`, `label`.
fn write_parquet(path: &Path, images: &[Vec<u8>], labels: &[i64]) {
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::writer::SerializedFileWriter;
    let schema = parquet::schema::parser::parse_message_type(
        "message schema { required group img { required binary bytes; required binary path (UTF8); } required int64 label; }",
    )
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = SerializedFileWriter::new(file, std::sync::Arc::new(schema), Default::default()).unwrap();
    let mut rg = w.next_row_group().unwrap();
    let bytes: Vec<ByteArray> = images.iter().map(|b| ByteArray::from(b.clone())).collect();
    let names: Vec<ByteArray> = (0..images.len()).map(|i| ByteArray::from(format!("{i}.png").as_str())).collect();
    for col in [bytes, names] {
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<ByteArrayType>().write_batch(&col, None, None).unwrap();
        c.close().unwrap();
    }
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<Int64Type>().write_batch(labels, None, None).unwrap();
    c.close().unwrap();
    rg.close().unwrap();
    w.close().unwrap();
}

/// A 32×32 PNG whose pixel (x, y) is (x*8, y*8, 0): red grows to the right, green downwards.
fn gradient_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([(x * 8) as u8, (y * 8) as u8, 0]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn check_orientation(ds: &data::Dataset) {
    let px = u8s(&ds.pixels);
    // Channel 0 (red) at row 3, column 10 is 10*8; channel 1 (green) there is 3*8.
    assert_eq!(px[3 * 32 + 10], 80, "red must grow along x (columns), as in CIFAR-10's binary files");
    assert_eq!(px[1024 + 3 * 32 + 10], 24, "green must grow along y (rows)");
}

#[test]
fn parquet_images_keep_the_binary_orientation() {
    let dir = common::tmpdir("parquet");
    let p = dir.join("train.parquet");
    write_parquet(&p, &[gradient_png(), gradient_png()], &[2, 5]);
    let ds = hub::load_parquet(&p, "cifar10", &cifar10::CLASSES).unwrap();
    assert_eq!(ds.labels, vec![2, 5]);
    assert_eq!(ds.shape, [3, 32, 32]);
    check_orientation(&ds);
}

#[test]
fn hub_fetch_resolves_from_the_cache_offline() {
    // Lay the file out as the Hub cache does, then go through the real hf-hub code path.
    let cache = common::tmpdir("hub-cache");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let repo = cache.join("datasets--uoft-cs--cifar10");
    std::fs::create_dir_all(repo.join("refs/refs/convert")).unwrap();
    std::fs::write(repo.join("refs/refs/convert/parquet"), commit).unwrap();
    let snap = repo.join("snapshots").join(commit).join("plain_text/train");
    std::fs::create_dir_all(&snap).unwrap();
    write_parquet(&snap.join("0000.parquet"), &[gradient_png()], &[7]);
    let path = hub::fetch(hub::CIFAR10.repo, hub::CIFAR10.train_file, Some(&cache)).unwrap();
    let ds = hub::load_parquet(&path, "cifar10", &cifar10::CLASSES).unwrap();
    assert_eq!(ds.labels, vec![7]);
    check_orientation(&ds);
}

#[test]
fn bad_parquet_is_a_clear_error() {
    let dir = common::tmpdir("parquet-bad");
    let p = dir.join("x.parquet");
    std::fs::write(&p, b"definitely not parquet").unwrap();
    let err = hub::load_parquet(&p, "cifar10", &cifar10::CLASSES).unwrap_err().to_string();
    assert!(err.contains("x.parquet") && err.contains("parquet"), "{err}");
}

#[test]
fn missing_data_names_the_ways_to_provide_it() {
    let dir = common::tmpdir("empty");
    let opts = DataOptions { data_dir: Some(dir.clone()), allow_download: true, ..Default::default() };
    let err = data::load(DatasetName::Mnist, Split::Train, &opts).unwrap_err().to_string();
    assert!(err.contains("`data_dir`") && err.contains("KINDLING_DATA"), "{err}");
    let opts = DataOptions { data_dir: Some(dir.join("nope")), ..Default::default() };
    assert!(data::load(DatasetName::Cifar10, Split::Train, &opts).unwrap_err().to_string().contains("not a folder"));
}

#[test]
fn real_cifar10_batches() {
    let Some(dir) = common::require_data("cifar10") else { return };
    let ds = cifar10::load(&dir, Split::Train).unwrap();
    assert_eq!(ds.len(), 50_000);
    assert_eq!(ds.class_counts(), vec![5000; 10]);
    // The first training image is a frog (label 6), the second a truck (9).
    assert_eq!(&ds.labels[..2], &[6, 9]);
    assert_eq!(ds.classes[6], "frog");
    let (train, val) = ds.split_tail(10_000).unwrap();
    assert_eq!((train.len(), val.len()), (40_000, 10_000));
    assert_eq!(val.labels, {
        let mut b5 = (vec![], vec![]);
        cifar10::read_batch(&dir.join("data_batch_5.bin"), &mut b5.1, &mut b5.0).unwrap();
        b5.0
    });
}

#[test]
fn real_mnist() {
    let Some(dir) = common::require_data("mnist") else { return };
    let m = idx::load(&dir, Split::Train, "mnist", &idx::MNIST_CLASSES).unwrap();
    assert_eq!((m.len(), m.shape), (60_000, [1, 28, 28]));
    assert_eq!(&m.labels[..3], &[5, 0, 4]);
    let t = idx::load(&dir, Split::Test, "mnist", &idx::MNIST_CLASSES).unwrap();
    assert_eq!(t.len(), 10_000);
}

/// Found where the crate finds it (`$KINDLING_DATA/fashion-mnist`, then Debian's folder); once its
/// files are there, any error loading them fails the test.
#[test]
fn real_fashion_mnist() {
    let Some(dir) = common::require_fashion_mnist() else { return };
    let f = idx::load(&dir, Split::Test, "fashion-mnist", &idx::FASHION_CLASSES).unwrap();
    assert_eq!((f.len(), f.shape), (10_000, [1, 28, 28]));
    assert_eq!(f.labels[0], 9, "Fashion-MNIST's first test image is an ankle boot");
    assert_eq!(f.classes[9], "Ankle boot");
    let opts = DataOptions { allow_download: false, ..Default::default() };
    let train = data::load(DatasetName::FashionMnist, Split::Train, &opts).unwrap();
    assert_eq!(train.len(), 60_000);
    assert_eq!(train.class_counts(), vec![6000; 10]);
}
