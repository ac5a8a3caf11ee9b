//! `sensor_msgs/msg/{Image, PointCloud2, LaserScan}` written in place.
//!
//! Each message type is described by a plain struct holding its non-bulk
//! fields ([`Image`], [`PointCloud2`], [`LaserScan`]) and the *length* of
//! its bulk arrays. From that the exact CDR size is known, so a publisher
//! loans exactly that many bytes, the non-bulk fields are written, and the
//! loan hands out the bulk array inside the shared-memory slot:
//!
//! ```no_run
//! use renoir_core::registry::Domain;
//! use renoir_core::topic::Qos;
//! use renoir_core::wire::sensor_msgs::{Header, Image, ImageLoan, WireType};
//!
//! let d = Domain::join(0)?;
//! let node = d.add_node("camera_driver", "/", "")?;
//! let p = d.create_publisher(&node, Image::topic_spec("/camera/image_raw", Qos::reliable(5)))?;
//! let img = Image::rgb8(Header::now("camera"), 1920, 1080);
//! let mut frame = ImageLoan::new(&p, &img)?;
//! frame.data_mut().fill(0x80); // the driver writes the pixels here
//! frame.publish()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Registration (what rmw_renoir matches on, `rmw_renoir/src/publisher.rs`
//! and `subscription.rs`): the topic is the fully qualified ROS name as rcl
//! hands it to the rmw (`/camera/image_raw`, no `rt/` prefix), the type the
//! ROS name `sensor_msgs/msg/Image`, and the type hash the ROS 2 Jazzy
//! RIHS01 hash of the type (`TYPE_HASH`; checked against the type support
//! in msg_support's tests). The core matches hashes only when both sides
//! are non-zero, so a publisher built with a zero hash
//! (`TopicSpec::type_hash = [0; 32]`) matches any distro's subscribers.
//! The node given to `create_publisher` is what `ros2 node list` and
//! `ros2 topic info -v` show.
//!
//! The bulk bytes are not cleared: a reused slot holds an older sample's
//! bytes until the producer overwrites them, so the producer writes the
//! whole bulk array.

use super::cdr::{CdrError, Sink, Sizer, Writer, ENCAPSULATION_LE};
use crate::topic::{PublishError, Publisher, Qos, SampleMut, TopicSpec};
use std::ops::Range;

/// Building or publishing a message loan failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error(transparent)]
    Cdr(#[from] CdrError),
    #[error("publisher is for type `{found}`, not `{expected}`")]
    WrongType {
        expected: &'static str,
        found: String,
    },
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// A message type whose wire layout this module knows.
pub trait WireType {
    /// ROS type name, as rmw_renoir registers it (`pkg/msg/Name`).
    const TYPE_NAME: &'static str;
    /// RIHS01 type hash of ROS 2 Jazzy (the value after `RIHS01_`).
    const TYPE_HASH: [u8; 32];

    /// The spec that makes rmw_renoir subscriptions on `topic` (a fully
    /// qualified ROS topic name) match this publisher.
    fn topic_spec(topic: &str, qos: Qos) -> TopicSpec {
        let mut s = TopicSpec::new(topic, Self::TYPE_NAME, qos);
        s.type_hash = Self::TYPE_HASH;
        s
    }
}

const fn hex_nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("not a lowercase hex digit"),
    }
}

/// 64 hex digits -> 32 bytes, at compile time.
const fn rihs01(hex: &str) -> [u8; 32] {
    let h = hex.as_bytes();
    assert!(h.len() == 64);
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = hex_nibble(h[2 * i]) << 4 | hex_nibble(h[2 * i + 1]);
        i += 1;
    }
    out
}

/// `std_msgs/msg/Header`: stamp and frame id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header<'a> {
    pub sec: i32,
    pub nanosec: u32,
    pub frame_id: &'a str,
}

impl<'a> Header<'a> {
    /// A header stamped with the current system (ROS) time.
    pub fn now(frame_id: &'a str) -> Header<'a> {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Header {
            sec: d.as_secs() as i32,
            nanosec: d.subsec_nanos(),
            frame_id,
        }
    }

    fn walk<S: Sink>(&self, s: &mut S) -> Result<(), CdrError> {
        s.i32(self.sec)?;
        s.u32(self.nanosec)?;
        s.string("header.frame_id", self.frame_id)
    }
}

/// `sensor_msgs/msg/Image` without its pixels; `data` has `step * height`
/// bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image<'a> {
    pub header: Header<'a>,
    pub height: u32,
    pub width: u32,
    pub encoding: &'a str,
    pub is_bigendian: u8,
    /// Row length in bytes.
    pub step: u32,
}

impl<'a> Image<'a> {
    /// A packed 8-bit RGB image (`encoding` "rgb8", `step` 3 x width).
    pub fn rgb8(header: Header<'a>, width: u32, height: u32) -> Image<'a> {
        Image {
            header,
            height,
            width,
            encoding: "rgb8",
            is_bigendian: 0,
            step: width.saturating_mul(3),
        }
    }

    /// Bytes of `data`.
    pub fn data_len(&self) -> usize {
        self.step as usize * self.height as usize
    }

    fn walk<S: Sink>(&self, s: &mut S) -> Result<Range<usize>, CdrError> {
        s.put(&ENCAPSULATION_LE)?;
        self.header.walk(s)?;
        s.u32(self.height)?;
        s.u32(self.width)?;
        s.string("encoding", self.encoding)?;
        s.u8(self.is_bigendian)?;
        s.u32(self.step)?;
        s.bulk("data", self.data_len(), 1)
    }

    /// Exact serialized size, encapsulation header included.
    pub fn serialized_size(&self) -> Result<usize, CdrError> {
        let mut s = Sizer::new();
        Ok(self.walk(&mut s)?.end)
    }

    /// Write everything but the pixels into `buf` (exactly
    /// [`serialized_size`](Self::serialized_size) bytes); returns where
    /// `data` is.
    pub fn write(&self, buf: &mut [u8]) -> Result<Range<usize>, CdrError> {
        self.walk(&mut Writer::new(buf))
    }
}

impl WireType for Image<'_> {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/Image";
    const TYPE_HASH: [u8; 32] =
        rihs01("d31d41a9a4c4bc8eae9be757b0beed306564f7526c88ea6a4588fb9582527d47");
}

/// `sensor_msgs/msg/PointField`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointField<'a> {
    pub name: &'a str,
    pub offset: u32,
    /// One of the `PointField::*` datatype constants (e.g. [`FLOAT32`](Self::FLOAT32)).
    pub datatype: u8,
    pub count: u32,
}

impl PointField<'_> {
    pub const INT8: u8 = 1;
    pub const UINT8: u8 = 2;
    pub const INT16: u8 = 3;
    pub const UINT16: u8 = 4;
    pub const INT32: u8 = 5;
    pub const UINT32: u8 = 6;
    pub const FLOAT32: u8 = 7;
    pub const FLOAT64: u8 = 8;
}

/// The x, y, z, intensity float32 fields of a 16-byte point.
pub const XYZI: [PointField<'static>; 4] = [
    PointField {
        name: "x",
        offset: 0,
        datatype: PointField::FLOAT32,
        count: 1,
    },
    PointField {
        name: "y",
        offset: 4,
        datatype: PointField::FLOAT32,
        count: 1,
    },
    PointField {
        name: "z",
        offset: 8,
        datatype: PointField::FLOAT32,
        count: 1,
    },
    PointField {
        name: "intensity",
        offset: 12,
        datatype: PointField::FLOAT32,
        count: 1,
    },
];

/// `sensor_msgs/msg/PointCloud2` without its points; `data` has
/// `row_step * height` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointCloud2<'a> {
    pub header: Header<'a>,
    pub height: u32,
    pub width: u32,
    pub fields: &'a [PointField<'a>],
    pub is_bigendian: bool,
    pub point_step: u32,
    pub row_step: u32,
    pub is_dense: bool,
}

impl<'a> PointCloud2<'a> {
    /// An unordered cloud (height 1) of `points` x/y/z/intensity float32
    /// points, 16 bytes each.
    pub fn xyzi(header: Header<'a>, points: u32) -> PointCloud2<'a> {
        PointCloud2 {
            header,
            height: 1,
            width: points,
            fields: &XYZI,
            is_bigendian: false,
            point_step: 16,
            row_step: points.saturating_mul(16),
            is_dense: true,
        }
    }

    /// Bytes of `data`.
    pub fn data_len(&self) -> usize {
        self.row_step as usize * self.height as usize
    }

    fn walk<S: Sink>(&self, s: &mut S) -> Result<Range<usize>, CdrError> {
        s.put(&ENCAPSULATION_LE)?;
        self.header.walk(s)?;
        s.u32(self.height)?;
        s.u32(self.width)?;
        let n = u32::try_from(self.fields.len()).map_err(|_| CdrError::TooLong("fields"))?;
        s.u32(n)?;
        for f in self.fields {
            s.string("fields.name", f.name)?;
            s.u32(f.offset)?;
            s.u8(f.datatype)?;
            s.u32(f.count)?;
        }
        s.bool(self.is_bigendian)?;
        s.u32(self.point_step)?;
        s.u32(self.row_step)?;
        let data = s.bulk("data", self.data_len(), 1)?;
        s.bool(self.is_dense)?;
        Ok(data)
    }

    /// Exact serialized size, encapsulation header included.
    pub fn serialized_size(&self) -> Result<usize, CdrError> {
        let mut s = Sizer::new();
        self.walk(&mut s)?;
        Ok(s.pos())
    }

    /// Write everything but the points into `buf`; returns where `data` is.
    pub fn write(&self, buf: &mut [u8]) -> Result<Range<usize>, CdrError> {
        self.walk(&mut Writer::new(buf))
    }
}

impl WireType for PointCloud2<'_> {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/PointCloud2";
    const TYPE_HASH: [u8; 32] =
        rihs01("9198cabf7da3796ae6fe19c4cb3bdd3525492988c70522628af5daa124bae2b5");
}

/// `sensor_msgs/msg/LaserScan` without its `ranges` and `intensities`
/// (float32 each; `intensities` may be empty).
#[derive(Debug, Clone, PartialEq)]
pub struct LaserScan<'a> {
    pub header: Header<'a>,
    pub angle_min: f32,
    pub angle_max: f32,
    pub angle_increment: f32,
    pub time_increment: f32,
    pub scan_time: f32,
    pub range_min: f32,
    pub range_max: f32,
    pub ranges: usize,
    pub intensities: usize,
}

impl LaserScan<'_> {
    fn walk<S: Sink>(&self, s: &mut S) -> Result<[Range<usize>; 2], CdrError> {
        s.put(&ENCAPSULATION_LE)?;
        self.header.walk(s)?;
        for v in [
            self.angle_min,
            self.angle_max,
            self.angle_increment,
            self.time_increment,
            self.scan_time,
            self.range_min,
            self.range_max,
        ] {
            s.f32(v)?;
        }
        let r = s.bulk("ranges", self.ranges, 4)?;
        let i = s.bulk("intensities", self.intensities, 4)?;
        Ok([r, i])
    }

    /// Exact serialized size, encapsulation header included.
    pub fn serialized_size(&self) -> Result<usize, CdrError> {
        let mut s = Sizer::new();
        Ok(self.walk(&mut s)?[1].end)
    }

    /// Write everything but the two float arrays into `buf`; returns where
    /// `ranges` and `intensities` are.
    pub fn write(&self, buf: &mut [u8]) -> Result<[Range<usize>; 2], CdrError> {
        self.walk(&mut Writer::new(buf))
    }
}

impl WireType for LaserScan<'_> {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/LaserScan";
    const TYPE_HASH: [u8; 32] =
        rihs01("64c191398013af96509d518dac71d5164f9382553fce5c1f8cca5be7924bd828");
}

/// A loaned sample with its non-bulk fields written.
struct Loan<'p> {
    publisher: &'p Publisher,
    sample: SampleMut,
}

impl<'p> Loan<'p> {
    fn new<T: WireType>(publisher: &'p Publisher, len: usize) -> Result<Loan<'p>, WireError> {
        let found = &publisher.spec().type_name;
        if found != T::TYPE_NAME {
            return Err(WireError::WrongType {
                expected: T::TYPE_NAME,
                found: found.clone(),
            });
        }
        let sample = publisher.loan(len)?;
        Ok(Loan { publisher, sample })
    }

    fn publish(self, source_timestamp_ns: i64) -> Result<u64, WireError> {
        Ok(self.publisher.publish(self.sample, source_timestamp_ns)?)
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Float32 samples into a little-endian byte range (CDR is little endian;
/// on little-endian hosts this compiles to a copy).
fn put_f32s(dst: &mut [u8], v: &[f32]) {
    for (d, x) in dst.chunks_exact_mut(4).zip(v) {
        d.copy_from_slice(&x.to_le_bytes());
    }
}

macro_rules! loan_common {
    ($t:ident) => {
        impl $t<'_> {
            /// The whole serialized message (CDR, header included).
            pub fn as_bytes(&self) -> &[u8] {
                &self.loan.sample
            }
            /// Publish it with the current time as source timestamp;
            /// returns the sequence number.
            pub fn publish(self) -> Result<u64, WireError> {
                self.loan.publish(now_ns())
            }
            /// Publish with an explicit source timestamp (unix ns).
            pub fn publish_at(self, source_timestamp_ns: i64) -> Result<u64, WireError> {
                self.loan.publish(source_timestamp_ns)
            }
        }
    };
}

/// A `sensor_msgs/msg/Image` in a loaned shared-memory slot; write the
/// pixels into [`data_mut`](Self::data_mut), then [`publish`](Self::publish).
pub struct ImageLoan<'p> {
    loan: Loan<'p>,
    data: Range<usize>,
}

impl<'p> ImageLoan<'p> {
    /// Loan exactly the serialized size of `img` from `publisher` (a
    /// publisher created with [`Image::topic_spec`]) and write its fields.
    pub fn new(publisher: &'p Publisher, img: &Image<'_>) -> Result<ImageLoan<'p>, WireError> {
        let len = img.serialized_size()?;
        let mut loan = Loan::new::<Image>(publisher, len)?;
        let data = img.write(&mut loan.sample)?;
        Ok(ImageLoan { loan, data })
    }
    /// The pixel bytes (`step * height`), inside shared memory.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.loan.sample[self.data.clone()]
    }
}
loan_common!(ImageLoan);

/// A `sensor_msgs/msg/PointCloud2` in a loaned shared-memory slot.
pub struct PointCloud2Loan<'p> {
    loan: Loan<'p>,
    data: Range<usize>,
}

impl<'p> PointCloud2Loan<'p> {
    /// Loan exactly the serialized size of `pc` and write its fields.
    pub fn new(
        publisher: &'p Publisher,
        pc: &PointCloud2<'_>,
    ) -> Result<PointCloud2Loan<'p>, WireError> {
        let len = pc.serialized_size()?;
        let mut loan = Loan::new::<PointCloud2>(publisher, len)?;
        let data = pc.write(&mut loan.sample)?;
        Ok(PointCloud2Loan { loan, data })
    }
    /// The point bytes (`row_step * height`), inside shared memory.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.loan.sample[self.data.clone()]
    }
}
loan_common!(PointCloud2Loan);

/// A `sensor_msgs/msg/LaserScan` in a loaned shared-memory slot.
pub struct LaserScanLoan<'p> {
    loan: Loan<'p>,
    ranges: Range<usize>,
    intensities: Range<usize>,
}

impl<'p> LaserScanLoan<'p> {
    /// Loan exactly the serialized size of `scan` and write its fields.
    pub fn new(
        publisher: &'p Publisher,
        scan: &LaserScan<'_>,
    ) -> Result<LaserScanLoan<'p>, WireError> {
        let len = scan.serialized_size()?;
        let mut loan = Loan::new::<LaserScan>(publisher, len)?;
        let [ranges, intensities] = scan.write(&mut loan.sample)?;
        Ok(LaserScanLoan {
            loan,
            ranges,
            intensities,
        })
    }
    /// `ranges` as little-endian float32 bytes (4 per ray), inside shared
    /// memory.
    pub fn ranges_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.loan.sample[self.ranges.clone()]
    }
    /// `intensities` as little-endian float32 bytes.
    pub fn intensities_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.loan.sample[self.intensities.clone()]
    }
    /// Write ranges (at most as many as the scan was created with).
    pub fn set_ranges(&mut self, v: &[f32]) {
        put_f32s(self.ranges_bytes_mut(), v);
    }
    /// Write intensities (at most as many as the scan was created with).
    pub fn set_intensities(&mut self, v: &[f32]) {
        put_f32s(self.intensities_bytes_mut(), v);
    }
}
loan_common!(LaserScanLoan);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::Backend;
    use crate::registry::Domain;

    fn img() -> Image<'static> {
        Image::rgb8(
            Header {
                sec: 5,
                nanosec: 7,
                frame_id: "cam",
            },
            4,
            2,
        )
    }

    #[test]
    fn image_layout_by_hand() {
        let i = img();
        let n = i.serialized_size().unwrap();
        // hdr 4 | sec 4 nsec 4 | len 4 "cam\0" 4 | h 4 w 4 | len 4 "rgb8\0" 5
        // | is_bigendian 1 | pad 2 | step 4 | count 4 | 24 pixels
        assert_eq!(n, 4 + 8 + 8 + 8 + 9 + 1 + 2 + 4 + 4 + 24);
        let mut b = vec![0xaa; n];
        let data = i.write(&mut b).unwrap();
        assert_eq!(data, n - 24..n);
        assert_eq!(&b[..4], &ENCAPSULATION_LE);
        assert_eq!(&b[n - 28..n - 24], &24u32.to_le_bytes());
        assert_eq!(&b[n - 32..n - 28], &12u32.to_le_bytes());
        // Padding after is_bigendian is zero even over old bytes.
        assert_eq!(&b[n - 35..n - 32], &[0, 0, 0]);
        assert!(i.write(&mut b[..n - 1]).is_err());
    }

    #[test]
    fn hashes_decode() {
        assert_eq!(Image::TYPE_HASH[0], 0xd3);
        assert_eq!(Image::TYPE_HASH[31], 0x47);
        assert_eq!(LaserScan::TYPE_HASH[..2], [0x64, 0xc1]);
    }

    #[test]
    fn loans_check_the_type_and_publish_exact_bytes() {
        let d = Domain::join_with(7, Backend::Heap).unwrap();
        let node = d.add_node("native", "/", "").unwrap();
        let p = d
            .create_publisher(&node, Image::topic_spec("/img", Qos::reliable(2)))
            .unwrap();
        let mut sspec = Image::topic_spec("/img", Qos::reliable(2));
        sspec.kind = crate::topic::EndpointKind::Subscriber;
        let s = d.create_subscriber(&node, sspec).unwrap();
        let scan = LaserScan {
            header: Header::default(),
            angle_min: 0.0,
            angle_max: 1.0,
            angle_increment: 0.1,
            time_increment: 0.0,
            scan_time: 0.1,
            range_min: 0.0,
            range_max: 10.0,
            ranges: 3,
            intensities: 0,
        };
        assert!(matches!(
            LaserScanLoan::new(&p, &scan),
            Err(WireError::WrongType { .. })
        ));
        let mut l = ImageLoan::new(&p, &img()).unwrap();
        l.data_mut().copy_from_slice(&[9; 24]);
        let mut want = vec![0u8; img().serialized_size().unwrap()];
        img().write(&mut want).unwrap();
        let k = want.len();
        want[k - 24..].fill(9);
        assert_eq!(l.as_bytes(), &want[..]);
        l.publish().unwrap();
        let got = s.take().unwrap().expect("a sample");
        assert_eq!(&got[..], &want[..]);
    }
}
