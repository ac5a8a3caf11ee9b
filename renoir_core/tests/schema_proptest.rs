//! Property: for random compatible evolutions of a random schema, migrating a
//! random old message succeeds, the result validates against the new schema,
//! and every kept field's value is preserved (up to a lossless widening).

use proptest::prelude::*;
use renoir_core::schema::*;

/// Element kinds the generator uses: the 11 primitives, then string.
fn base_of(kind: u8) -> BaseType {
    match kind as usize % 12 {
        i if i < 11 => BaseType::Prim(Primitive::ALL[i]),
        _ => BaseType::String(None),
    }
}

fn scalar(base: &BaseType, seed: u64) -> Value {
    match base {
        BaseType::Prim(p) => match p {
            Primitive::Bool => Value::Bool(seed & 1 == 1),
            Primitive::F32 => Value::F32((seed % (1 << 20)) as f32 / 8.0 - 1000.0),
            Primitive::F64 => Value::F64((seed >> 11) as f64 / 3.0 - 1e15),
            p => {
                // Any value of the type, from the seed's bits.
                let v = match p {
                    Primitive::U8 => i128::from(seed as u8),
                    Primitive::U16 => i128::from(seed as u16),
                    Primitive::U32 => i128::from(seed as u32),
                    Primitive::U64 => i128::from(seed),
                    Primitive::I8 => i128::from(seed as i8),
                    Primitive::I16 => i128::from(seed as i16),
                    Primitive::I32 => i128::from(seed as i32),
                    _ => i128::from(seed as i64),
                };
                Value::int_of(*p, v).unwrap()
            }
        },
        BaseType::String(_) => Value::String(format!("s{seed}")),
        other => panic!("generator does not make {other}"),
    }
}

fn value(ty: &FieldType, seed: u64) -> Value {
    match ty {
        FieldType::Single(b) => scalar(b, seed),
        FieldType::Sequence(b, _) => Value::List(
            (0..seed % 4)
                .map(|i| scalar(b, seed.rotate_left(i as u32 * 13)))
                .collect(),
        ),
        FieldType::Array(b, n) => Value::List(
            (0..*n)
                .map(|i| scalar(b, seed.rotate_left(i * 13)))
                .collect(),
        ),
    }
}

#[derive(Debug, Clone)]
struct FieldGen {
    kind: u8,
    shape: u8,
    required: bool,
    has_default: bool,
    present: bool,
    seed: u64,
    op: u8,
}

fn field_gen() -> impl Strategy<Value = FieldGen> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
        any::<u8>(),
    )
        .prop_map(
            |(kind, shape, required, has_default, present, seed, op)| FieldGen {
                kind,
                shape,
                required,
                has_default,
                present,
                seed,
                op,
            },
        )
}

fn field_type(g: &FieldGen) -> FieldType {
    let b = base_of(g.kind);
    match g.shape % 4 {
        0 => FieldType::Sequence(b, None),
        1 => FieldType::Array(b, 2),
        _ => FieldType::Single(b),
    }
}

/// What happened to an old field.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Kept,
    Removed,
}

fn evolve(
    fields: &[FieldGen],
    additions: &[(u8, bool, bool, u64)],
) -> (Schema, Schema, Message, Vec<Fate>) {
    let mut old = Schema::builder("prop/T", Version::new(1, 0, 0));
    let mut new = Schema::builder("prop/T", Version::new(2, 0, 0));
    let mut msg = Message::new();
    let mut fates = Vec::new();
    for (i, g) in fields.iter().enumerate() {
        let id = i as u32 + 1;
        let ty = field_type(g);
        let mut f = Field::new(id, format!("f{i}"), ty.clone());
        if !g.required {
            f = f.optional();
        }
        if g.has_default {
            f.default = Some(value(&ty, g.seed.rotate_left(7)));
        }
        if g.required || g.present {
            msg.set(id, value(&ty, g.seed));
        }
        old = old.field(f.clone());
        let mut nf = f;
        let mut fate = Fate::Kept;
        match g.op % 6 {
            // Widen the element type (if it can be widened).
            0 => {
                if let BaseType::Prim(p) = ty.base() {
                    let wider: Vec<Primitive> = Primitive::ALL
                        .into_iter()
                        .filter(|q| p.widens_to(*q))
                        .collect();
                    if !wider.is_empty() {
                        let q = wider[(g.seed % wider.len() as u64) as usize];
                        nf.ty = ty.map_base(BaseType::Prim(q));
                        if let Some(d) = &nf.default {
                            nf.default = d.convert(q);
                        }
                    }
                }
            }
            1 => nf.presence = Presence::Optional,
            2 => {
                nf.presence = Presence::Optional;
                nf.deprecated = true;
            }
            3 => nf.name = format!("renamed{i}"),
            4 if !g.required => fate = Fate::Removed,
            _ => {}
        }
        if fate == Fate::Kept {
            new = new.field(nf);
        }
        fates.push(fate);
    }
    for (j, (kind, required, has_default, seed)) in additions.iter().enumerate() {
        let ty = FieldType::Single(base_of(*kind));
        let mut f = Field::new(1000 + j as u32, format!("added{j}"), ty.clone())
            .since(Version::new(2, 0, 0));
        // A required addition always has a default (that is what makes it compatible).
        if *has_default || *required {
            f.default = Some(value(&ty, *seed));
        }
        if !*required {
            f = f.optional();
        }
        new = new.field(f);
    }
    (old.build().unwrap(), new.build().unwrap(), msg, fates)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn compatible_evolutions_migrate_and_preserve(
        fields in proptest::collection::vec(field_gen(), 1..10),
        additions in proptest::collection::vec((any::<u8>(), any::<bool>(), any::<bool>(), any::<u64>()), 0..4),
    ) {
        let (old, new, msg, fates) = evolve(&fields, &additions);
        old.check_message(&msg, &NoTypes).unwrap();

        // Every generated change is backward compatible for readers that skip
        // unknown fields (removals of optional fields are the only changes that
        // need skipping), and a plan builds without rules.
        let skip = CompareOptions { readers_skip_unknown: true };
        let c = compare_with(&old, &new, &skip);
        prop_assert!(c.is_backward(), "{}", c);
        let plan = MigrationPlan::new(&old, &new).unwrap();

        let out = plan.apply(&msg).unwrap();
        prop_assert!(new.check_message(&out, &NoTypes).is_ok());

        for (i, fate) in fates.iter().enumerate() {
            let id = i as u32 + 1;
            match fate {
                Fate::Removed => prop_assert!(!out.contains(id)),
                Fate::Kept => {
                    if let Some(orig) = msg.get(id) {
                        let got = out.get(id).expect("kept field present");
                        // Converting back to the old type gives the original.
                        let back = match old.field(id).unwrap().ty.base() {
                            BaseType::Prim(p) => got.convert(*p).unwrap(),
                            _ => got.clone(),
                        };
                        prop_assert_eq!(&back, orig);
                    }
                }
            }
        }
        // Required additions got their default.
        for f in new.fields.iter().filter(|f| f.id >= 1000 && f.is_required()) {
            prop_assert_eq!(out.get(f.id), f.default.as_ref());
        }

        // The migrator agrees and counts.
        let mut m = Migrator::new(plan);
        prop_assert_eq!(m.migrate(msg.clone()).unwrap(), out);
        prop_assert_eq!(m.stats().migrated, 1);
    }
}
