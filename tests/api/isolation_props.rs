//! Isolation, property-tested. One random but reproducible world: two or three tenants, each
//! with an org-unit tree, users in random units holding random roles (random row scopes on
//! customers, regions and complaints, random `read_level` grants on complaints), and records
//! created by those users, so owners and units vary. Then random (user, query) pairs over every
//! read path: get by id, filtered and paginated lists with `totalCount`, nested references and
//! reverse references (a customer's complaints), `history` and a plugin's `query` import (through the `spy` fixture). An oracle that knows
//! only the world decides which rows and fields each caller may read; every answer must match
//! it, and no path may return a single row outside the caller's rights.
//!
//! `JINGXI_PROPTEST_SEED` chooses the world and the queries (a failure prints it);
//! `JINGXI_PROPTEST_CASES` sets how many random queries run (default 128).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use jingxi_tests::{TestServer, error_code, fixture_wasm};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::strategy::ValueTree;
use proptest::test_runner::{
    Config as RunnerConfig, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::fixtures::customer_input;

const DEFAULT_SEED: u64 = 6;
const DEFAULT_CASES: u32 = 128;

const STAGES: [&str; 5] = ["潜在客户", "意向客户", "成交客户", "忠诚客户", "流失客户"];
const TYPES: [&str; 5] = [
    "企业客户",
    "经销商/渠道",
    "团购单位",
    "个人",
    "政府/事业单位",
];
const GRADES: [&str; 4] = ["A", "B", "C", "D"];
const SEVERITIES: [&str; 3] = ["一般", "重要", "紧急"];
const CITIES: [&str; 12] = [
    "杭州", "宁波", "温州", "苏州", "南京", "合肥", "福州", "厦门", "上海", "无锡", "绍兴", "嘉兴",
];
const BRANDS: [&str; 12] = [
    "恒达",
    "华联",
    "新世纪",
    "金鹰",
    "银泰",
    "百联",
    "永乐",
    "星辰",
    "瑞丰",
    "嘉禾",
    "鼎盛",
    "广源",
];
const REGION_NAMES: [&str; 12] = [
    "华东大区",
    "浙江省区",
    "杭州片区",
    "江苏省区",
    "南京片区",
    "安徽省区",
    "福建省区",
    "上海片区",
    "广东省区",
    "深圳片区",
    "北京片区",
    "山东省区",
];
const PEOPLE: [&str; 16] = [
    "郑浩",
    "何丽",
    "王海涛",
    "李娜",
    "张伟",
    "刘洋",
    "陈静",
    "杨帆",
    "赵磊",
    "黄敏",
    "周杰",
    "吴婷",
    "徐明",
    "孙悦",
    "马超",
    "林芳",
];
const COMPLAINTS: [&str; 6] = [
    "上门安装迟到三小时",
    "空调外机噪音过大",
    "冰箱送货时外壳划伤",
    "售后电话长时间无人接听",
    "洗衣机保修期内被收取维修费",
    "促销价格与宣传不符",
];
const TENANTS: [&str; 3] = ["huadong", "huanan", "huabei"];
/// The org-unit tree of every tenant: a root, two children, and a grandchild under the first.
const UNIT_NAMES: [&str; 4] = ["总部", "营销中心", "客服中心", "杭州办事处"];
const UNIT_PARENTS: [Option<usize>; 4] = [None, Some(0), Some(0), Some(1)];
const CUSTOMER_ORDER: [&str; 6] = [
    "NAME",
    "STAGE",
    "CUSTOMER_NO",
    "CREATED_AT",
    "GRADE",
    "OWNER_ID",
];

// ---------------------------------------------------------------------------------------------
// The plan of the world: what a strategy generates before anything exists.

/// Breadth of a grant, as the kernel orders them: the broadest grant of a user wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    Own,
    OrgUnit,
    All,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Own => "own",
            Scope::OrgUnit => "org_unit",
            Scope::All => "all",
        }
    }
}

#[derive(Debug, Clone)]
struct RolePlan {
    customer: Option<Scope>,
    /// `update`/`delete` on customers: must never widen what the role reads.
    customer_write: Option<Scope>,
    region: Option<Scope>,
    complaint: Option<Scope>,
    /// A `read_level:1` grant on complaints (its scope does not matter for levels).
    compensation: Option<Scope>,
}

#[derive(Debug, Clone)]
struct UserPlan {
    unit: Option<usize>,
    roles: [bool; 4],
}

#[derive(Debug, Clone)]
struct CustomerPlan {
    creator: Index,
    region: Index,
    stage: usize,
    kind: usize,
    grade: Option<usize>,
    /// The admin later moves the customer this many stages on (a second history entry).
    restage: Option<usize>,
}

#[derive(Debug, Clone)]
struct ComplaintPlan {
    creator: Index,
    customer: Index,
    severity: usize,
    /// The admin later sets a compensation of this many hundred yuan.
    compensation: Option<u32>,
}

#[derive(Debug, Clone)]
struct TenantPlan {
    roles: Vec<RolePlan>,
    users: Vec<UserPlan>,
    regions: Vec<Index>,
    customers: Vec<CustomerPlan>,
    complaints: Vec<ComplaintPlan>,
}

fn scope() -> impl Strategy<Value = Option<Scope>> {
    prop_oneof![
        Just(None),
        Just(Some(Scope::Own)),
        Just(Some(Scope::OrgUnit)),
        Just(Some(Scope::All)),
    ]
}

fn tenant_plan() -> impl Strategy<Value = TenantPlan> {
    // A level grant is rarer than a read grant, so that many readers of complaints stay at level 0.
    let level = prop_oneof![
        3 => Just(None),
        1 => Just(Some(Scope::Own)),
        1 => Just(Some(Scope::All)),
    ];
    let role = (scope(), scope(), scope(), scope(), level).prop_map(
        |(customer, customer_write, region, complaint, compensation)| RolePlan {
            customer,
            customer_write,
            region,
            complaint,
            compensation,
        },
    );
    let user = (
        proptest::option::weighted(0.8, 0..UNIT_NAMES.len()),
        proptest::array::uniform4(any::<bool>()),
    )
        .prop_map(|(unit, roles)| UserPlan { unit, roles });
    let customer = (
        any::<Index>(),
        any::<Index>(),
        0..STAGES.len(),
        0..TYPES.len(),
        proptest::option::of(0..GRADES.len()),
        proptest::option::weighted(0.3, 1..STAGES.len()),
    )
        .prop_map(
            |(creator, region, stage, kind, grade, restage)| CustomerPlan {
                creator,
                region,
                stage,
                kind,
                grade,
                restage,
            },
        );
    let complaint = (
        any::<Index>(),
        any::<Index>(),
        0..SEVERITIES.len(),
        proptest::option::of(1u32..100),
    )
        .prop_map(
            |(creator, customer, severity, compensation)| ComplaintPlan {
                creator,
                customer,
                severity,
                compensation,
            },
        );
    (
        vec(role, 4),
        vec(user, 3..=5),
        vec(any::<Index>(), 3..=4),
        vec(customer, 8..=12),
        vec(complaint, 4..=6),
    )
        .prop_map(
            |(roles, users, regions, customers, complaints)| TenantPlan {
                roles,
                users,
                regions,
                customers,
                complaints,
            },
        )
}

// ---------------------------------------------------------------------------------------------
// The world as built, and the oracle over it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Customer,
    Region,
    Complaint,
}

impl Kind {
    fn entity(self) -> &'static str {
        match self {
            Kind::Customer => "crm.customer",
            Kind::Region => "org.region",
            Kind::Complaint => "crm.complaint",
        }
    }
}

#[derive(Debug)]
struct Person {
    tenant: usize,
    id: Uuid,
    token: String,
    name: String,
    email: String,
    admin: bool,
    unit: Option<usize>,
    roles: Vec<String>,
    /// The grants of those roles that bear on reading, as "entity action scope".
    grants: Vec<String>,
    /// Effective read scopes (the broadest over all roles; `All` for the admin).
    customer: Option<Scope>,
    region: Option<Scope>,
    complaint: Option<Scope>,
    /// Highest field level of complaints this person may read.
    level: u8,
}

impl Person {
    fn scope(&self, kind: Kind) -> Option<Scope> {
        match kind {
            Kind::Customer => self.customer,
            Kind::Region => self.region,
            Kind::Complaint => self.complaint,
        }
    }
}

/// Who owns a record and where it lives: all that row scopes look at.
#[derive(Debug)]
struct Meta {
    id: Uuid,
    tenant: usize,
    owner: usize,
    unit: Option<usize>,
    /// History entries written for the record.
    events: usize,
}

#[derive(Debug)]
struct CustomerRec {
    meta: Meta,
    name: String,
    stage: &'static str,
    kind: &'static str,
    grade: Option<&'static str>,
    region: usize,
}

#[derive(Debug)]
struct RegionRec {
    meta: Meta,
    name: String,
}

#[derive(Debug)]
struct ComplaintRec {
    meta: Meta,
    customer: usize,
    severity: &'static str,
    compensation: Option<String>,
}

#[derive(Debug)]
struct TenantWorld {
    slug: String,
    units: Vec<Uuid>,
    /// Indexes into `World::people`: the admin, the wide reader, the narrow reader, then users
    /// with random roles.
    people: Vec<usize>,
}

#[derive(Debug, Default)]
struct World {
    seed: u64,
    tenants: Vec<TenantWorld>,
    people: Vec<Person>,
    customers: Vec<CustomerRec>,
    regions: Vec<RegionRec>,
    complaints: Vec<ComplaintRec>,
    /// Every record id (as the API writes it) to its kind and index.
    by_id: HashMap<String, (Kind, usize)>,
}

fn is_under(unit: usize, ancestor: usize) -> bool {
    let mut current = Some(unit);
    while let Some(u) = current {
        if u == ancestor {
            return true;
        }
        current = UNIT_PARENTS[u];
    }
    false
}

impl World {
    fn meta(&self, kind: Kind, index: usize) -> &Meta {
        match kind {
            Kind::Customer => &self.customers[index].meta,
            Kind::Region => &self.regions[index].meta,
            Kind::Complaint => &self.complaints[index].meta,
        }
    }

    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Customer => self.customers.len(),
            Kind::Region => self.regions.len(),
            Kind::Complaint => self.complaints.len(),
        }
    }

    /// THE ORACLE: may `person` read this record? Decided from the world model alone.
    fn may_read(&self, person: usize, kind: Kind, index: usize) -> bool {
        let p = &self.people[person];
        let meta = self.meta(kind, index);
        if meta.tenant != p.tenant {
            return false;
        }
        match p.scope(kind) {
            None => false,
            Some(Scope::All) => true,
            Some(Scope::Own) => meta.owner == person,
            // Without a unit, an org_unit grant shows what an own grant would.
            Some(Scope::OrgUnit) => match p.unit {
                None => meta.owner == person,
                Some(mine) => meta.unit.is_some_and(|unit| is_under(unit, mine)),
            },
        }
    }

    /// The ids of `kind` that `person` may read.
    fn visible(&self, person: usize, kind: Kind) -> BTreeSet<String> {
        (0..self.count(kind))
            .filter(|&i| self.may_read(person, kind, i))
            .map(|i| self.meta(kind, i).id.to_string())
            .collect()
    }

    fn in_tenant(&self, tenant: usize, kind: Kind) -> usize {
        (0..self.count(kind))
            .filter(|&i| self.meta(kind, i).tenant == tenant)
            .count()
    }

    fn lookup(&self, id: &str) -> Option<(Kind, usize)> {
        self.by_id.get(id).copied()
    }

    fn target(&self, person: usize, kind: Kind, target: &Target) -> String {
        match target {
            Target::Local(index) => {
                let tenant = self.people[person].tenant;
                let local: Vec<usize> = (0..self.count(kind))
                    .filter(|&i| self.meta(kind, i).tenant == tenant)
                    .collect();
                self.meta(kind, local[index.index(local.len())])
                    .id
                    .to_string()
            }
            Target::Record(index) => self
                .meta(kind, index.index(self.count(kind)))
                .id
                .to_string(),
            Target::Unknown(n) => Uuid::from_u128(*n).to_string(),
        }
    }

    /// A customer's field as the filter sees it (`None` is SQL NULL).
    fn customer_value(&self, index: usize, field: CField) -> Option<String> {
        let c = &self.customers[index];
        match field {
            CField::Stage => Some(c.stage.to_string()),
            CField::Type => Some(c.kind.to_string()),
            CField::Grade => c.grade.map(str::to_string),
            CField::Name => Some(c.name.clone()),
            CField::Owner => Some(self.people[c.meta.owner].id.to_string()),
            CField::Unit => c
                .meta
                .unit
                .map(|u| self.tenants[c.meta.tenant].units[u].to_string()),
            CField::Region => Some(self.regions[c.region].meta.id.to_string()),
            CField::Id => Some(c.meta.id.to_string()),
        }
    }

    fn describe_person(&self, person: usize) -> String {
        let p = &self.people[person];
        let unit = p.unit.map_or("none", |u| UNIT_NAMES[u]);
        format!(
            "{} <{}> (tenant {}, unit {unit}, roles {:?}, grants {:?}; reads customers {:?}, \
             regions {:?}, complaints {:?}; complaint level {})",
            p.name,
            p.email,
            self.tenants[p.tenant].slug,
            p.roles,
            p.grants,
            p.scope(Kind::Customer),
            p.scope(Kind::Region),
            p.scope(Kind::Complaint),
            p.level
        )
    }

    fn describe_record(&self, id: &str) -> String {
        let Some((kind, index)) = self.lookup(id) else {
            return format!("{id} (not a record of this world)");
        };
        let meta = self.meta(kind, index);
        let unit = meta.unit.map_or("none", |u| UNIT_NAMES[u]);
        format!(
            "{} {id} (tenant {}, owner {}, unit {unit})",
            kind.entity(),
            self.tenants[meta.tenant].slug,
            self.people[meta.owner].email
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Random queries.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CField {
    Stage,
    Type,
    Grade,
    Name,
    Owner,
    Unit,
    Region,
    Id,
}

impl CField {
    fn api(self) -> &'static str {
        match self {
            CField::Stage => "stage",
            CField::Type => "customerType",
            CField::Grade => "grade",
            CField::Name => "name",
            CField::Owner => "ownerId",
            CField::Unit => "orgUnitId",
            CField::Region => "regionId",
            CField::Id => "id",
        }
    }

    /// The schema name, as a plugin's `query` filter spells it.
    fn schema(self) -> &'static str {
        match self {
            CField::Stage => "stage",
            CField::Type => "customer_type",
            CField::Grade => "grade",
            CField::Name => "name",
            CField::Owner => "owner_id",
            CField::Unit => "org_unit_id",
            CField::Region => "region",
            CField::Id => "id",
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Eq(String),
    Ne(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    IsNull(bool),
    Like(String),
}

/// A filter on customers.
#[derive(Debug, Clone)]
enum Cond {
    Leaf(CField, Op),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

fn op_json(op: &Op) -> Value {
    match op {
        Op::Eq(v) => json!({"eq": v}),
        Op::Ne(v) => json!({"ne": v}),
        Op::In(v) => json!({"in": v}),
        Op::NotIn(v) => json!({"notIn": v}),
        Op::IsNull(v) => json!({"isNull": v}),
        Op::Like(v) => json!({"like": v}),
    }
}

impl Cond {
    /// As a GraphQL `CrmCustomerFilter` (`schema = false`) or a plugin `query` filter.
    fn to_json(&self, schema: bool) -> Value {
        match self {
            Cond::Leaf(field, op) => {
                let name = if schema { field.schema() } else { field.api() };
                let mut map = Map::new();
                map.insert(name.to_string(), op_json(op));
                Value::Object(map)
            }
            Cond::And(items) => {
                json!({"and": items.iter().map(|c| c.to_json(schema)).collect::<Vec<_>>()})
            }
            Cond::Or(items) => {
                json!({"or": items.iter().map(|c| c.to_json(schema)).collect::<Vec<_>>()})
            }
            Cond::Not(inner) => json!({"not": inner.to_json(schema)}),
        }
    }

    /// SQL's three-valued logic: `None` is unknown, and a row matches only on `Some(true)`.
    fn eval(&self, world: &World, customer: usize) -> Option<bool> {
        match self {
            Cond::Leaf(field, op) => eval_op(world.customer_value(customer, *field).as_deref(), op),
            Cond::And(items) => {
                let values: Vec<_> = items.iter().map(|c| c.eval(world, customer)).collect();
                if values.contains(&Some(false)) {
                    Some(false)
                } else if values.contains(&None) {
                    None
                } else {
                    Some(true)
                }
            }
            Cond::Or(items) => {
                let values: Vec<_> = items.iter().map(|c| c.eval(world, customer)).collect();
                if values.contains(&Some(true)) {
                    Some(true)
                } else if values.contains(&None) {
                    None
                } else {
                    Some(false)
                }
            }
            Cond::Not(inner) => inner.eval(world, customer).map(|v| !v),
        }
    }
}

fn eval_op(value: Option<&str>, op: &Op) -> Option<bool> {
    match op {
        Op::Eq(v) => value.map(|x| x == v),
        // `ne` and `notIn` count empty fields as not equal.
        Op::Ne(v) => Some(value != Some(v.as_str())),
        Op::In(list) if list.is_empty() => Some(false),
        Op::In(list) => value.map(|x| list.iter().any(|v| v == x)),
        Op::NotIn(list) => Some(value.is_none_or(|x| list.iter().all(|v| v != x))),
        Op::IsNull(null) => Some(value.is_none() == *null),
        Op::Like(pattern) => value.map(|x| like(x, pattern)),
    }
}

/// `LIKE` with `%` and `_`, ignoring ASCII case (as both backends do here).
fn like(text: &str, pattern: &str) -> bool {
    fn go(text: &[char], pattern: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('%', rest)) => (0..=text.len()).any(|i| go(&text[i..], rest)),
            Some(('_', rest)) => !text.is_empty() && go(&text[1..], rest),
            Some((c, rest)) => {
                text.first().is_some_and(|t| t.eq_ignore_ascii_case(c)) && go(&text[1..], rest)
            }
        }
    }
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    go(&text, &pattern)
}

#[derive(Debug, Clone)]
enum Target {
    /// A record of the queried kind in the caller's tenant.
    Local(Index),
    /// A record of the queried kind, from any tenant.
    Record(Index),
    /// An id no record has.
    Unknown(u128),
}

#[derive(Debug, Clone)]
enum Paging {
    First {
        first: Option<u64>,
        after: Option<u64>,
    },
    Last(u64),
}

#[derive(Debug, Clone)]
enum ComplaintFilter {
    /// On a level-1 field: refused below that level.
    CompensationIsNull(bool),
    Severity(usize),
    Customers(Vec<Index>),
}

#[derive(Debug, Clone)]
enum Probe {
    Get {
        kind: Kind,
        target: Target,
    },
    Customers {
        filter: Option<Cond>,
        order: Option<(&'static str, bool)>,
        paging: Paging,
    },
    Regions,
    Complaints {
        filter: Option<ComplaintFilter>,
        by_compensation: bool,
    },
    History {
        kind: Kind,
        target: Target,
    },
    /// Customers with their complaints as a nested reverse connection.
    CustomerComplaints {
        filter: Option<Cond>,
        first: u64,
    },
    Spy {
        kind: Kind,
        filter: Option<Cond>,
    },
}

#[derive(Debug, Clone)]
struct Case {
    person: usize,
    probe: Probe,
}

fn values(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn op(choices: Vec<String>) -> BoxedStrategy<Op> {
    let one = select(choices.clone());
    let many = vec(select(choices), 0..=3);
    prop_oneof![
        3 => one.clone().prop_map(Op::Eq),
        1 => one.prop_map(Op::Ne),
        2 => many.clone().prop_map(Op::In),
        1 => many.prop_map(Op::NotIn),
        1 => any::<bool>().prop_map(Op::IsNull),
    ]
    .boxed()
}

fn cond(world: &World) -> BoxedStrategy<Cond> {
    let people: Vec<String> = world.people.iter().map(|p| p.id.to_string()).collect();
    let units: Vec<String> = world
        .tenants
        .iter()
        .flat_map(|t| t.units.iter().map(Uuid::to_string))
        .collect();
    let regions: Vec<String> = world
        .regions
        .iter()
        .map(|r| r.meta.id.to_string())
        .collect();
    let mut ids: Vec<String> = world
        .customers
        .iter()
        .map(|c| c.meta.id.to_string())
        .collect();
    ids.push(Uuid::from_u128(0x0190_a4c2_1d7e_7b3a_9c41_0000_0000_0031).to_string());
    let names: Vec<String> = world.customers.iter().map(|c| c.name.clone()).collect();
    let name = prop_oneof![
        select(values(&CITIES)).prop_map(|c| Op::Like(format!("{c}%"))),
        select(values(&BRANDS)).prop_map(|b| Op::Like(format!("%{b}%"))),
        select(names).prop_map(Op::Eq),
    ];
    let leaf = prop_oneof![
        op(values(&STAGES)).prop_map(|o| Cond::Leaf(CField::Stage, o)),
        op(values(&TYPES)).prop_map(|o| Cond::Leaf(CField::Type, o)),
        op(values(&GRADES)).prop_map(|o| Cond::Leaf(CField::Grade, o)),
        name.prop_map(|o| Cond::Leaf(CField::Name, o)),
        op(people).prop_map(|o| Cond::Leaf(CField::Owner, o)),
        op(units).prop_map(|o| Cond::Leaf(CField::Unit, o)),
        op(regions).prop_map(|o| Cond::Leaf(CField::Region, o)),
        op(ids).prop_map(|o| Cond::Leaf(CField::Id, o)),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..=3).prop_map(Cond::And),
            vec(inner.clone(), 0..=3).prop_map(Cond::Or),
            inner.prop_map(|c| Cond::Not(Box::new(c))),
        ]
    })
    .boxed()
}

fn case(world: &World) -> impl Strategy<Value = Case> + use<> {
    let kind = prop_oneof![
        Just(Kind::Customer),
        Just(Kind::Region),
        Just(Kind::Complaint)
    ];
    let target = prop_oneof![
        4 => any::<Index>().prop_map(Target::Local),
        2 => any::<Index>().prop_map(Target::Record),
        1 => any::<u128>().prop_map(Target::Unknown),
    ];
    let filter = proptest::option::weighted(0.75, cond(world));
    let paging = prop_oneof![
        3 => (
            proptest::option::of(prop_oneof![1u64..=4, Just(50)]),
            proptest::option::weighted(0.4, 0u64..12),
        )
            .prop_map(|(first, after)| Paging::First { first, after }),
        1 => (0u64..=6).prop_map(Paging::Last),
    ];
    let order = proptest::option::of((select(CUSTOMER_ORDER.to_vec()), any::<bool>()));
    let complaint_filter = proptest::option::of(prop_oneof![
        any::<bool>().prop_map(ComplaintFilter::CompensationIsNull),
        (0..SEVERITIES.len()).prop_map(ComplaintFilter::Severity),
        vec(any::<Index>(), 0..=3).prop_map(ComplaintFilter::Customers),
    ]);
    let probe = prop_oneof![
        3 => (kind.clone(), target.clone()).prop_map(|(kind, target)| Probe::Get { kind, target }),
        4 => (filter.clone(), order, paging)
            .prop_map(|(filter, order, paging)| Probe::Customers { filter, order, paging }),
        1 => Just(Probe::Regions),
        2 => (complaint_filter, proptest::bool::weighted(0.2))
            .prop_map(|(filter, by_compensation)| Probe::Complaints { filter, by_compensation }),
        2 => (kind.clone(), target).prop_map(|(kind, target)| Probe::History { kind, target }),
        2 => (filter.clone(), 0u64..4)
            .prop_map(|(filter, first)| Probe::CustomerComplaints { filter, first }),
        // The spy names customers and regions, and only customers get a filter.
        2 => (kind, filter).prop_map(|(kind, filter)| Probe::Spy {
            kind,
            filter: filter.filter(|_| kind == Kind::Customer),
        }),
    ];
    (0..world.people.len(), probe).prop_map(|(person, probe)| Case { person, probe })
}

// ---------------------------------------------------------------------------------------------
// Building the world.

fn rng(seed: u64, stream: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&stream.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn grants(plan: &RolePlan) -> Vec<(&'static str, Vec<&'static str>, &'static str)> {
    let mut grants = Vec::new();
    if let Some(s) = plan.customer {
        grants.push(("crm.customer", vec!["read"], s.as_str()));
    }
    if let Some(s) = plan.customer_write {
        grants.push(("crm.customer", vec!["update", "delete"], s.as_str()));
    }
    if let Some(s) = plan.region {
        grants.push(("org.region", vec!["read"], s.as_str()));
    }
    if let Some(s) = plan.complaint {
        grants.push(("crm.complaint", vec!["read"], s.as_str()));
    }
    if let Some(s) = plan.compensation {
        grants.push(("crm.complaint", vec!["read_level:1"], s.as_str()));
    }
    grants
}

async fn role(server: &TestServer, slug: &str, name: &str, plan: &RolePlan) {
    let owned = grants(plan);
    let grants: Vec<(&str, &[&str], &str)> = owned
        .iter()
        .map(|(entity, actions, scope)| (*entity, actions.as_slice(), *scope))
        .collect();
    server.role(slug, name, &grants).await;
}

fn broadest(plans: &[&RolePlan], pick: impl Fn(&RolePlan) -> Option<Scope>) -> Option<Scope> {
    plans.iter().filter_map(|p| pick(p)).max()
}

/// Creates a record through the API as `person` and returns its id.
async fn create(
    server: &TestServer,
    world: &World,
    person: usize,
    kind: Kind,
    input: Value,
) -> Uuid {
    let (mutation, field) = match kind {
        Kind::Customer => ("CrmCustomer", "createCrmCustomer"),
        Kind::Region => ("OrgRegion", "createOrgRegion"),
        Kind::Complaint => ("CrmComplaint", "createCrmComplaint"),
    };
    let query = format!("mutation($input: {mutation}Input!) {{ {field}(input: $input) {{ id }} }}");
    let data = server
        .ok(&world.people[person].token, &query, json!({"input": input}))
        .await;
    let id = data[field]["id"].as_str().expect("created id");
    Uuid::parse_str(id).expect("uuid")
}

async fn build(server: &TestServer, seed: u64) -> World {
    let mut planner = TestRunner::new_with_rng(RunnerConfig::default(), rng(seed, 0));
    let plans = vec(tenant_plan(), 2..=3)
        .new_tree(&mut planner)
        .expect("world plan")
        .current();
    let mut world = World {
        seed,
        ..World::default()
    };
    let wide = RolePlan {
        customer: Some(Scope::All),
        customer_write: None,
        region: Some(Scope::All),
        complaint: Some(Scope::All),
        compensation: None,
    };
    let narrow = RolePlan {
        customer: Some(Scope::Own),
        customer_write: None,
        region: Some(Scope::Own),
        complaint: None,
        compensation: None,
    };
    let writer: &[(&str, &[&str], &str)] = &[
        ("crm.customer", &["create"], "own"),
        ("org.region", &["create"], "own"),
        ("crm.complaint", &["create"], "own"),
        ("spy.probe", &["create"], "own"),
    ];
    let mut name_seq = 0usize;
    for (t, plan) in plans.iter().enumerate() {
        let slug = TENANTS[t];
        let tenant = server.tenant(slug, &["org", "crm", "spy"]).await;
        let row = server.kernel.tenant(slug).await.expect("tenant");
        let mut units: Vec<Uuid> = Vec::new();
        for (name, parent) in UNIT_NAMES.iter().zip(UNIT_PARENTS) {
            let unit = server
                .kernel
                .store
                .create_org_unit(row.id, name, parent.map(|p| units[p]))
                .await
                .expect("org unit");
            units.push(unit.id);
        }
        server.role(slug, "writer", writer).await;
        role(server, slug, "reader_all", &wide).await;
        role(server, slug, "reader_own", &narrow).await;
        for (r, plan) in plan.roles.iter().enumerate() {
            role(server, slug, &format!("custom_{r}"), plan).await;
        }
        let admin_id = server.ok(&tenant.admin, "{ me { id } }", json!({})).await["me"]["id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .expect("admin id");
        let mut people = vec![world.people.len()];
        world.people.push(Person {
            tenant: t,
            id: admin_id,
            token: tenant.admin.clone(),
            name: "管理员".into(),
            email: format!("admin@{slug}.test"),
            admin: true,
            unit: None,
            roles: vec!["admin".into()],
            grants: vec!["everything in the tenant".into()],
            customer: Some(Scope::All),
            region: Some(Scope::All),
            complaint: Some(Scope::All),
            level: 9,
        });
        // The wide and the narrow reader are always there, so the world always holds two
        // users whose rights differ; the others get random roles.
        let mut users: Vec<(Option<usize>, Vec<String>, Vec<&RolePlan>)> = vec![
            (
                plan.users[0].unit,
                vec!["writer".into(), "reader_all".into()],
                vec![&wide],
            ),
            (
                plan.users[1].unit,
                vec!["writer".into(), "reader_own".into()],
                vec![&narrow],
            ),
        ];
        for user in &plan.users {
            let chosen: Vec<usize> = (0..plan.roles.len()).filter(|&r| user.roles[r]).collect();
            let mut roles = vec!["writer".to_string()];
            roles.extend(chosen.iter().map(|r| format!("custom_{r}")));
            users.push((
                user.unit,
                roles,
                chosen.iter().map(|&r| &plan.roles[r]).collect(),
            ));
        }
        for (u, (unit, roles, plans)) in users.into_iter().enumerate() {
            let name = PEOPLE[(t * 5 + u) % PEOPLE.len()];
            let email = format!("user{u}@{slug}.test");
            let created = server
                .kernel
                .create_user(slug, &email, name, None, &roles, unit.map(|u| units[u]))
                .await
                .expect("user created");
            let token = server
                .kernel
                .create_token(slug, &email, "test", None)
                .await
                .expect("token");
            let granted = plans
                .iter()
                .flat_map(|p| grants(p))
                .map(|(entity, actions, scope)| format!("{entity} {} {scope}", actions.join("/")))
                .collect();
            people.push(world.people.len());
            world.people.push(Person {
                tenant: t,
                id: created.id,
                token,
                name: name.into(),
                email,
                admin: false,
                unit,
                roles,
                grants: granted,
                customer: broadest(&plans, |p| p.customer),
                region: broadest(&plans, |p| p.region),
                complaint: broadest(&plans, |p| p.complaint),
                level: u8::from(plans.iter().any(|p| p.compensation.is_some())),
            });
        }
        let narrow_reader = people[2];
        let admin = people[0];
        world.tenants.push(TenantWorld {
            slug: slug.into(),
            units,
            people: people.clone(),
        });

        let mut regions = Vec::new();
        for creator in &plan.regions {
            let owner = people[creator.index(people.len())];
            let name = REGION_NAMES[world.regions.len() % REGION_NAMES.len()];
            let name = format!("{name}{}", world.regions.len() + 1);
            let code = format!("R{}", world.regions.len() + 1);
            let input = json!({"code": code, "name": name, "level": "城市"});
            let id = create(server, &world, owner, Kind::Region, input).await;
            regions.push(world.regions.len());
            world.regions.push(RegionRec {
                meta: Meta {
                    id,
                    tenant: t,
                    owner,
                    unit: world.people[owner].unit,
                    events: 1,
                },
                name,
            });
        }

        let mut customers = Vec::new();
        for (c, plan) in plan.customers.iter().enumerate() {
            // The narrow reader owns the first customer and the admin the second, so the wide
            // reader always sees strictly more than the narrow one.
            let owner = match c {
                0 => narrow_reader,
                1 => admin,
                _ => people[plan.creator.index(people.len())],
            };
            let region = regions[plan.region.index(regions.len())];
            let name = format!(
                "{}{}{}",
                CITIES[name_seq % CITIES.len()],
                BRANDS[(name_seq / CITIES.len()) % BRANDS.len()],
                if name_seq.is_multiple_of(2) {
                    "电器商行"
                } else {
                    "家电有限公司"
                }
            );
            name_seq += 1;
            let region_id = world.regions[region].meta.id.to_string();
            let mut input = customer_input(
                &format!("CUS-{}-{c:02}", t + 1),
                &name,
                &region_id,
                STAGES[plan.stage],
                "100000.00",
            );
            input["customerType"] = json!(TYPES[plan.kind]);
            if let Some(grade) = plan.grade {
                input["grade"] = json!(GRADES[grade]);
            }
            let id = create(server, &world, owner, Kind::Customer, input).await;
            customers.push(world.customers.len());
            world.customers.push(CustomerRec {
                meta: Meta {
                    id,
                    tenant: t,
                    owner,
                    unit: world.people[owner].unit,
                    events: 1,
                },
                name,
                stage: STAGES[plan.stage],
                kind: TYPES[plan.kind],
                grade: plan.grade.map(|g| GRADES[g]),
                region,
            });
        }

        let mut complaints = Vec::new();
        for plan in &plan.complaints {
            let owner = people[plan.creator.index(people.len())];
            let customer = customers[plan.customer.index(customers.len())];
            let input = json!({
                "customerId": world.customers[customer].meta.id.to_string(),
                "channel": "电话",
                "receivedAt": "2026-11-20T09:00:00Z",
                "category": "服务态度",
                "severity": SEVERITIES[plan.severity],
                "description": COMPLAINTS[world.complaints.len() % COMPLAINTS.len()],
                "acceptSlaHours": 24,
                "resolveSlaHours": 72,
            });
            let id = create(server, &world, owner, Kind::Complaint, input).await;
            complaints.push(world.complaints.len());
            world.complaints.push(ComplaintRec {
                meta: Meta {
                    id,
                    tenant: t,
                    owner,
                    unit: world.people[owner].unit,
                    events: 1,
                },
                customer,
                severity: SEVERITIES[plan.severity],
                compensation: None,
            });
        }

        // Changes by the admin: a second history entry, and a compensation (a level-1 field)
        // that readers below that level must never see, not even in the history.
        for (&index, plan) in customers.iter().zip(&plan.customers) {
            let Some(steps) = plan.restage else { continue };
            let stage = STAGES[(plan.stage + steps) % STAGES.len()];
            let id = world.customers[index].meta.id;
            server
                .ok(
                    &tenant.admin,
                    "mutation($id: ID!, $stage: String!) { updateCrmCustomer(id: $id, patch: {stage: $stage}) { id } }",
                    json!({"id": id, "stage": stage}),
                )
                .await;
            world.customers[index].stage = stage;
            world.customers[index].meta.events += 1;
        }
        for (c, (&index, plan)) in complaints.iter().zip(&plan.complaints).enumerate() {
            // The first complaint of every tenant always gets one.
            let Some(hundreds) = plan.compensation.or((c == 0).then_some(68)) else {
                continue;
            };
            let amount = format!("{}.00", hundreds * 100);
            let id = world.complaints[index].meta.id;
            server
                .ok(
                    &tenant.admin,
                    "mutation($id: ID!, $amount: Decimal!) { updateCrmComplaint(id: $id, patch: {compensation: $amount, solution: [\"补偿\", \"道歉\"]}) { id } }",
                    json!({"id": id, "amount": amount}),
                )
                .await;
            world.complaints[index].compensation = Some(amount);
            world.complaints[index].meta.events += 1;
        }
    }
    let mut by_id = HashMap::new();
    for kind in [Kind::Customer, Kind::Region, Kind::Complaint] {
        for i in 0..world.count(kind) {
            by_id.insert(world.meta(kind, i).id.to_string(), (kind, i));
        }
    }
    world.by_id = by_id;
    world
}

// ---------------------------------------------------------------------------------------------
// Checking answers.

/// Tallies that show the property was not checked vacuously.
#[derive(Debug, Default)]
struct Tally {
    cases: AtomicUsize,
    rows: AtomicUsize,
    hidden: AtomicUsize,
    refused: AtomicUsize,
}

struct Ctx {
    server: TestServer,
    world: World,
    tally: Tally,
}

/// The ids among `returned` that `allowed` does not contain: the rows a caller must not see.
fn outside(allowed: &BTreeSet<String>, returned: &[String]) -> Vec<String> {
    returned
        .iter()
        .filter(|id| !allowed.contains(*id))
        .cloned()
        .collect()
}

fn ids(nodes: &Value) -> Vec<String> {
    nodes
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter_map(|n| n["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn cursor(offset: u64) -> String {
    hex::encode(format!("offset:{offset}"))
}

const CUSTOMER_NODE: &str = "id ownerId orgUnitId regionId region { id name }";
const COMPLAINT_NODE: &str =
    "id compensation customerId customer { id ownerId orgUnitId regionId region { id name } }";

impl Ctx {
    async fn ask(&self, person: usize, query: &str, variables: &Value) -> Value {
        let token = &self.world.people[person].token;
        self.server.graphql(token, query, variables.clone()).await.0
    }

    /// Runs one case; `Err` says who asked what, and which rows were wrong.
    async fn check(&self, case: &Case) -> Result<(), String> {
        self.tally.cases.fetch_add(1, Ordering::Relaxed);
        let mut asked = (String::new(), Value::Null);
        let result = self.run(case, &mut asked).await;
        result.map_err(|problem| {
            format!(
                "{problem}\n  seed: {} (JINGXI_PROPTEST_SEED)\n  caller: {}\n  query: {}\n  variables: {}",
                self.world.seed,
                self.world.describe_person(case.person),
                asked.0,
                asked.1
            )
        })
    }

    fn leak_report(&self, what: &str, leaked: &[String]) -> String {
        let rows: Vec<String> = leaked
            .iter()
            .map(|id| format!("    {}", self.world.describe_record(id)))
            .collect();
        format!(
            "LEAK on {what}: {} row(s) outside the caller's rights:\n{}",
            leaked.len(),
            rows.join("\n")
        )
    }

    fn count_rows(&self, person: usize, kind: Kind, returned: usize) {
        let w = &self.world;
        self.tally.rows.fetch_add(returned, Ordering::Relaxed);
        if w.visible(person, kind).len() < w.in_tenant(w.people[person].tenant, kind) {
            self.tally.hidden.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A customer node as the caller got it: its nested region only if they may read it.
    fn check_customer(&self, person: usize, node: &Value) -> Result<(), String> {
        let w = &self.world;
        let id = node["id"].as_str().unwrap_or_default();
        let Some((Kind::Customer, c)) = w.lookup(id) else {
            return Err(format!("unknown customer in answer: {node}"));
        };
        let customer = &w.customers[c];
        let region = &w.regions[customer.region];
        let unit = customer
            .meta
            .unit
            .map(|u| w.tenants[customer.meta.tenant].units[u].to_string());
        if node["regionId"] != json!(region.meta.id.to_string())
            || node["ownerId"] != json!(w.people[customer.meta.owner].id.to_string())
            || node["orgUnitId"] != json!(unit)
        {
            return Err(format!("customer {id} answered with wrong fields: {node}"));
        }
        let nested = &node["region"];
        if w.may_read(person, Kind::Region, customer.region) {
            if nested["id"] != json!(region.meta.id.to_string())
                || nested["name"] != json!(region.name)
            {
                return Err(format!(
                    "customer {id}: readable region missing or wrong: {node}"
                ));
            }
        } else if !nested.is_null() {
            return Err(self.leak_report("nested region", &[region.meta.id.to_string()]));
        }
        Ok(())
    }

    /// A complaint node: compensation only at level 1, the nested customer only if readable.
    fn check_complaint(&self, person: usize, node: &Value) -> Result<(), String> {
        let w = &self.world;
        let id = node["id"].as_str().unwrap_or_default();
        let Some((Kind::Complaint, c)) = w.lookup(id) else {
            return Err(format!("unknown complaint in answer: {node}"));
        };
        let complaint = &w.complaints[c];
        let expected = if w.people[person].level >= 1 {
            json!(complaint.compensation)
        } else {
            Value::Null
        };
        if node["compensation"] != expected {
            return Err(format!(
                "LEAK of a field: complaint {id} compensation is {} where the caller (level {}) \
                 should get {expected}",
                node["compensation"], w.people[person].level
            ));
        }
        let customer = &node["customer"];
        if w.may_read(person, Kind::Customer, complaint.customer) {
            if customer.is_null() {
                return Err(format!("complaint {id}: readable customer missing: {node}"));
            }
            self.check_customer(person, customer)?;
        } else if !customer.is_null() {
            return Err(self.leak_report(
                "nested customer",
                &[w.customers[complaint.customer].meta.id.to_string()],
            ));
        }
        Ok(())
    }

    async fn run(&self, case: &Case, asked: &mut (String, Value)) -> Result<(), String> {
        let w = &self.world;
        let person = case.person;
        let p = &w.people[person];
        match &case.probe {
            Probe::Get { kind, target } => {
                let id = w.target(person, *kind, target);
                let (field, node) = match kind {
                    Kind::Customer => ("crmCustomer", CUSTOMER_NODE),
                    Kind::Region => ("orgRegion", "id name"),
                    Kind::Complaint => ("crmComplaint", COMPLAINT_NODE),
                };
                *asked = (
                    format!("query($id: ID!) {{ {field}(id: $id) {{ {node} }} }}"),
                    json!({"id": id}),
                );
                let body = self.ask(person, &asked.0, &asked.1).await;
                if body.get("errors").is_some() {
                    return Err(format!("unexpected errors: {body}"));
                }
                let got = &body["data"][field];
                let may = w
                    .lookup(&id)
                    .is_some_and(|(_, i)| w.may_read(person, *kind, i));
                self.count_rows(person, *kind, usize::from(!got.is_null()));
                match (may, got.is_null()) {
                    (false, false) => return Err(self.leak_report("get by id", &[id])),
                    (true, true) => return Err(format!("readable {id} came back null")),
                    (false, true) => return Ok(()),
                    (true, false) => {}
                }
                if got["id"] != json!(id) {
                    return Err(format!("asked for {id}, got {got}"));
                }
                match kind {
                    Kind::Customer => self.check_customer(person, got),
                    Kind::Complaint => self.check_complaint(person, got),
                    Kind::Region => Ok(()),
                }
            }
            Probe::Customers {
                filter,
                order,
                paging,
            } => {
                let mut variables = json!({
                    "filter": filter.as_ref().map(|f| f.to_json(false)),
                    "orderBy": order.map(|(field, desc)| json!([{"field": field, "direction": if desc { "DESC" } else { "ASC" }}])),
                });
                match paging {
                    Paging::First { first, after } => {
                        variables["first"] = json!(first);
                        variables["after"] = json!(after.map(cursor));
                    }
                    Paging::Last(last) => variables["last"] = json!(last),
                }
                *asked = (
                    format!(
                        "query($filter: CrmCustomerFilter, $orderBy: [CrmCustomerOrder!], $first: Int, $after: String, $last: Int) {{ \
                         crmCustomers(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last) {{ \
                         totalCount pageInfo {{ hasNextPage hasPreviousPage }} nodes {{ {CUSTOMER_NODE} }} }} }}"
                    ),
                    variables,
                );
                let body = self.ask(person, &asked.0, &asked.1).await;
                if body.get("errors").is_some() {
                    return Err(format!("unexpected errors: {body}"));
                }
                let conn = &body["data"]["crmCustomers"];
                let returned = ids(&conn["nodes"]);
                self.count_rows(person, Kind::Customer, returned.len());
                let visible = w.visible(person, Kind::Customer);
                let leaked = outside(&visible, &returned);
                if !leaked.is_empty() {
                    return Err(self.leak_report("crmCustomers", &leaked));
                }
                let expected: BTreeSet<String> = (0..w.customers.len())
                    .filter(|&c| w.may_read(person, Kind::Customer, c))
                    .filter(|&c| filter.as_ref().is_none_or(|f| f.eval(w, c) == Some(true)))
                    .map(|c| w.customers[c].meta.id.to_string())
                    .collect();
                let wrong = outside(&expected, &returned);
                if !wrong.is_empty() {
                    return Err(format!("rows that do not match the filter: {wrong:?}"));
                }
                let unique: BTreeSet<&String> = returned.iter().collect();
                if unique.len() != returned.len() {
                    return Err(format!("duplicate rows: {returned:?}"));
                }
                let total = expected.len() as u64;
                if conn["totalCount"] != json!(total) {
                    return Err(format!(
                        "totalCount {} but the caller may read {total} matching rows: {expected:?}",
                        conn["totalCount"]
                    ));
                }
                let (offset, limit) = match paging {
                    Paging::First { first, after } => {
                        (after.map_or(0, |a| a + 1), first.unwrap_or(50))
                    }
                    Paging::Last(last) => (total.saturating_sub(*last), (*last).min(total)),
                };
                let len = limit.min(total.saturating_sub(offset));
                if returned.len() as u64 != len {
                    return Err(format!(
                        "page of {} rows, expected {len} (offset {offset}, limit {limit}, total {total})",
                        returned.len()
                    ));
                }
                if len == total && returned.iter().cloned().collect::<BTreeSet<_>>() != expected {
                    return Err(format!("whole list differs: expected {expected:?}"));
                }
                let info = &conn["pageInfo"];
                if info["hasNextPage"] != json!(offset + len < total)
                    || info["hasPreviousPage"] != json!(offset > 0)
                {
                    return Err(format!(
                        "wrong pageInfo {info} (offset {offset}, total {total})"
                    ));
                }
                for node in conn["nodes"].as_array().into_iter().flatten() {
                    self.check_customer(person, node)?;
                }
                Ok(())
            }
            Probe::Regions => {
                *asked = (
                    "{ orgRegions { totalCount nodes { id name } } }".into(),
                    json!({}),
                );
                let body = self.ask(person, &asked.0, &asked.1).await;
                if body.get("errors").is_some() {
                    return Err(format!("unexpected errors: {body}"));
                }
                let conn = &body["data"]["orgRegions"];
                let returned = ids(&conn["nodes"]);
                self.count_rows(person, Kind::Region, returned.len());
                let visible = w.visible(person, Kind::Region);
                let leaked = outside(&visible, &returned);
                if !leaked.is_empty() {
                    return Err(self.leak_report("orgRegions", &leaked));
                }
                if returned.iter().cloned().collect::<BTreeSet<_>>() != visible
                    || conn["totalCount"] != json!(visible.len())
                {
                    return Err(format!("regions differ from {visible:?}: {conn}"));
                }
                Ok(())
            }
            Probe::Complaints {
                filter,
                by_compensation,
            } => {
                let customers = |picks: &[Index]| -> Vec<String> {
                    picks
                        .iter()
                        .map(|i| w.customers[i.index(w.customers.len())].meta.id.to_string())
                        .collect()
                };
                let filter_json = filter.as_ref().map(|f| match f {
                    ComplaintFilter::CompensationIsNull(empty) => {
                        json!({"compensation": {"isNull": empty}})
                    }
                    ComplaintFilter::Severity(s) => json!({"severity": {"eq": SEVERITIES[*s]}}),
                    ComplaintFilter::Customers(picks) => {
                        json!({"customerId": {"in": customers(picks)}})
                    }
                });
                let order = by_compensation
                    .then(|| json!([{"field": "COMPENSATION", "direction": "DESC"}]));
                *asked = (
                    format!(
                        "query($filter: CrmComplaintFilter, $orderBy: [CrmComplaintOrder!]) {{ \
                         crmComplaints(filter: $filter, orderBy: $orderBy) {{ totalCount nodes {{ {COMPLAINT_NODE} }} }} }}"
                    ),
                    json!({"filter": filter_json, "orderBy": order}),
                );
                let body = self.ask(person, &asked.0, &asked.1).await;
                let hidden_field = matches!(filter, Some(ComplaintFilter::CompensationIsNull(_)))
                    || *by_compensation;
                if hidden_field && p.level < 1 {
                    // A filter or sort on a field above the caller's level would let them probe
                    // its values: it is refused as if the field did not exist. A caller who may
                    // read no complaint at all gets an empty list either way.
                    let returned = ids(&body["data"]["crmComplaints"]["nodes"]);
                    let refused = error_code(&body) == "VALIDATION_FAILED";
                    let empty = body.get("errors").is_none()
                        && body["data"]["crmComplaints"]["totalCount"] == 0;
                    let no_rows = p.scope(Kind::Complaint).is_none() && empty;
                    if !returned.is_empty() || !(refused || no_rows) {
                        return Err(format!(
                            "a level-0 caller filtered or sorted on compensation and was not refused: {body}"
                        ));
                    }
                    self.tally.refused.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                if body.get("errors").is_some() {
                    return Err(format!("unexpected errors: {body}"));
                }
                let conn = &body["data"]["crmComplaints"];
                let returned = ids(&conn["nodes"]);
                self.count_rows(person, Kind::Complaint, returned.len());
                let visible = w.visible(person, Kind::Complaint);
                let leaked = outside(&visible, &returned);
                if !leaked.is_empty() {
                    return Err(self.leak_report("crmComplaints", &leaked));
                }
                let expected: BTreeSet<String> = (0..w.complaints.len())
                    .filter(|&c| w.may_read(person, Kind::Complaint, c))
                    .filter(|&c| {
                        let complaint = &w.complaints[c];
                        match filter {
                            None => true,
                            Some(ComplaintFilter::CompensationIsNull(empty)) => {
                                complaint.compensation.is_none() == *empty
                            }
                            Some(ComplaintFilter::Severity(s)) => {
                                complaint.severity == SEVERITIES[*s]
                            }
                            Some(ComplaintFilter::Customers(picks)) => customers(picks)
                                .contains(&w.customers[complaint.customer].meta.id.to_string()),
                        }
                    })
                    .map(|c| w.complaints[c].meta.id.to_string())
                    .collect();
                if returned.iter().cloned().collect::<BTreeSet<_>>() != expected
                    || returned.len() != expected.len()
                    || conn["totalCount"] != json!(expected.len())
                {
                    return Err(format!("complaints differ from {expected:?}: {conn}"));
                }
                for node in conn["nodes"].as_array().into_iter().flatten() {
                    self.check_complaint(person, node)?;
                }
                Ok(())
            }
            Probe::CustomerComplaints { filter, first } => {
                *asked = (
                    "query($filter: CrmCustomerFilter, $first: Int) { crmCustomers(filter: $filter, first: 500) { \
                     nodes { id crmComplaintsByCustomer(first: $first) { totalCount pageInfo { hasNextPage } nodes { id } } } } }"
                        .into(),
                    json!({"filter": filter.as_ref().map(|f| f.to_json(false)), "first": first}),
                );
                let body = self.ask(person, &asked.0, &asked.1).await;
                if body.get("errors").is_some() {
                    return Err(format!("unexpected errors: {body}"));
                }
                let visible = w.visible(person, Kind::Complaint);
                for node in body["data"]["crmCustomers"]["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let conn = &node["crmComplaintsByCustomer"];
                    let returned = ids(&conn["nodes"]);
                    self.count_rows(person, Kind::Complaint, returned.len());
                    let leaked = outside(&visible, &returned);
                    if !leaked.is_empty() {
                        return Err(self.leak_report("crmComplaintsByCustomer", &leaked));
                    }
                    let customer = node["id"].as_str().unwrap_or_default();
                    let expected: BTreeSet<String> = (0..w.complaints.len())
                        .filter(|&c| w.may_read(person, Kind::Complaint, c))
                        .filter(|&c| {
                            w.customers[w.complaints[c].customer].meta.id.to_string() == customer
                        })
                        .map(|c| w.complaints[c].meta.id.to_string())
                        .collect();
                    let wrong = outside(&expected, &returned);
                    let total = expected.len() as u64;
                    if !wrong.is_empty()
                        || returned.len() as u64 != total.min(*first)
                        || conn["totalCount"] != json!(total)
                        || conn["pageInfo"]["hasNextPage"] != json!(total > *first)
                    {
                        return Err(format!(
                            "complaints of customer {customer}: expected {expected:?} (first {first}), got {conn}"
                        ));
                    }
                }
                Ok(())
            }
            Probe::History { kind, target } => {
                let id = w.target(person, *kind, target);
                *asked = (
                    "query($entity: String!, $id: ID!) { history(entity: $entity, id: $id) { kind changes } }".into(),
                    json!({"entity": kind.entity(), "id": id}),
                );
                let body = self.ask(person, &asked.0, &asked.1).await;
                let record = w.lookup(&id).map(|(_, i)| i);
                let may = record.is_some_and(|i| w.may_read(person, *kind, i));
                let entries = body["data"]["history"].as_array().cloned();
                if !may {
                    let code = error_code(&body);
                    let expected = if p.scope(*kind).is_none() {
                        "FORBIDDEN"
                    } else {
                        "NOT_FOUND"
                    };
                    if entries.is_some_and(|e| !e.is_empty()) {
                        return Err(self.leak_report("history", &[id]));
                    }
                    if code != expected {
                        return Err(format!(
                            "history of an unreadable record: expected {expected}, got {body}"
                        ));
                    }
                    self.tally.refused.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                let Some(entries) = entries else {
                    return Err(format!("history of a readable record failed: {body}"));
                };
                let index = record.expect("readable means known");
                self.count_rows(person, *kind, 1);
                let meta = w.meta(*kind, index);
                if entries.len() != meta.events || entries[0]["kind"] != "create" {
                    return Err(format!(
                        "expected {} history entries starting with create, got {entries:?}",
                        meta.events
                    ));
                }
                if *kind == Kind::Complaint {
                    let shown = entries
                        .iter()
                        .any(|e| e["changes"].get("compensation").is_some());
                    let expected = p.level >= 1 && w.complaints[index].compensation.is_some();
                    if shown != expected {
                        return Err(format!(
                            "LEAK of a field in history (or a missing change): compensation shown: \
                             {shown}, expected {expected}: {entries:?}"
                        ));
                    }
                }
                Ok(())
            }
            Probe::Spy { kind, filter } => {
                let filter = filter.as_ref();
                let text = filter.map_or("{}".to_string(), |f| f.to_json(true).to_string());
                *asked = (
                    "mutation($input: SpyProbeInput!) { createSpyProbe(input: $input) { id } }"
                        .into(),
                    json!({"input": {"target": kind.entity(), "filter": text}}),
                );
                let body = self.ask(person, &asked.0, &asked.1).await;
                let message = body["errors"][0]["extensions"]["details"][0]["message"]
                    .as_str()
                    .unwrap_or_default();
                let Some(found) = message.strip_prefix("found: ") else {
                    return Err(format!("the spy plugin did not report: {body}"));
                };
                let found: Vec<&str> = found.split(',').filter(|s| !s.is_empty()).collect();
                let matching: Vec<usize> = (0..w.count(*kind))
                    .filter(|&i| w.may_read(person, *kind, i))
                    .filter(|&i| filter.is_none_or(|f| f.eval(w, i) == Some(true)))
                    .collect();
                self.count_rows(person, *kind, found.len());
                let names: HashMap<&str, String> = match kind {
                    Kind::Customer => w
                        .customers
                        .iter()
                        .map(|c| (c.name.as_str(), c.meta.id.to_string()))
                        .collect(),
                    Kind::Region => w
                        .regions
                        .iter()
                        .map(|r| (r.name.as_str(), r.meta.id.to_string()))
                        .collect(),
                    Kind::Complaint => HashMap::new(),
                };
                let visible = w.visible(person, *kind);
                let returned: Vec<String> = found
                    .iter()
                    .filter_map(|name| names.get(name).cloned())
                    .collect();
                let leaked = outside(&visible, &returned);
                if !leaked.is_empty() {
                    return Err(self.leak_report("plugin query", &leaked));
                }
                let mut expected: Vec<String> = matching
                    .iter()
                    .map(|&i| match kind {
                        Kind::Customer => w.customers[i].name.clone(),
                        Kind::Region => w.regions[i].name.clone(),
                        // Complaints have neither a name nor a code: the spy reports "?".
                        Kind::Complaint => "?".to_string(),
                    })
                    .collect();
                expected.sort();
                let expected = format!("found: {}", expected.join(","));
                if message != expected {
                    return Err(format!(
                        "the plugin's query answered {message:?}, the caller may read {expected:?}"
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The oracle must be able to tell rights apart, or the property would hold vacuously.
async fn sanity(ctx: &Ctx) {
    let w = &ctx.world;
    for (t, tenant) in w.tenants.iter().enumerate() {
        let (admin, wide, narrow) = (tenant.people[0], tenant.people[1], tenant.people[2]);
        let all = w.visible(admin, Kind::Customer);
        let wide_set = w.visible(wide, Kind::Customer);
        let narrow_set = w.visible(narrow, Kind::Customer);
        assert_eq!(all.len(), w.in_tenant(t, Kind::Customer));
        assert_eq!(wide_set, all, "an `all` grant reads the whole tenant");
        assert!(!narrow_set.is_empty(), "the narrow reader owns a customer");
        assert!(
            narrow_set.len() < wide_set.len() && narrow_set.is_subset(&wide_set),
            "an `own` grant reads less than an `all` grant"
        );
        // The checker reports the wide reader's answer as a leak when the narrow one gets it.
        let wide_answer: Vec<String> = wide_set.iter().cloned().collect();
        let leaked = outside(&narrow_set, &wide_answer);
        assert!(!leaked.is_empty(), "the leak check must be able to fail");
        assert!(leaked.iter().all(|id| !narrow_set.contains(id)));
        // And the server agrees with the oracle on both.
        for person in [wide, narrow] {
            let data = ctx
                .server
                .ok(
                    &w.people[person].token,
                    "{ crmCustomers { totalCount nodes { id } } }",
                    json!({}),
                )
                .await;
            let got: BTreeSet<String> = ids(&data["crmCustomers"]["nodes"]).into_iter().collect();
            assert_eq!(
                got,
                w.visible(person, Kind::Customer),
                "{}",
                w.describe_person(person)
            );
        }
        // The wide reader reads every complaint but not the level-1 compensation, neither on
        // the record nor in its history: the field checks have something to catch, and the
        // admin does see the amount.
        let paid = (0..w.complaints.len())
            .find(|&c| w.complaints[c].meta.tenant == t && w.complaints[c].compensation.is_some())
            .expect("a complaint with a compensation");
        assert!(w.people[wide].level == 0 && w.may_read(wide, Kind::Complaint, paid));
        for person in [admin, wide] {
            let data = ctx
                .server
                .ok(
                    &w.people[person].token,
                    "query($id: ID!) { crmComplaint(id: $id) { compensation } \
                     history(entity: \"crm.complaint\", id: $id) { changes } }",
                    json!({"id": w.complaints[paid].meta.id}),
                )
                .await;
            let expected = if person == admin {
                json!(w.complaints[paid].compensation)
            } else {
                Value::Null
            };
            assert_eq!(data["crmComplaint"]["compensation"], expected);
            let in_history = data["history"]
                .as_array()
                .expect("history")
                .iter()
                .any(|entry| entry["changes"].get("compensation").is_some());
            assert_eq!(in_history, person == admin, "{data}");
        }
    }
    for kind in [Kind::Customer, Kind::Region, Kind::Complaint] {
        let partial = (0..w.people.len())
            .filter(|&p| {
                let n = w.visible(p, kind).len();
                n > 0 && n < w.in_tenant(w.people[p].tenant, kind)
            })
            .count();
        eprintln!(
            "{partial} users read part of the {} records of their tenant",
            kind.entity()
        );
    }
    let levels: BTreeSet<u8> = w
        .people
        .iter()
        .filter(|p| !p.admin)
        .map(|p| p.level)
        .collect();
    eprintln!("complaint levels among non-admin users: {levels:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_path_returns_a_row_outside_the_callers_rights() {
    let seed = env_number("JINGXI_PROPTEST_SEED").unwrap_or(DEFAULT_SEED);
    let cases = env_number("JINGXI_PROPTEST_CASES").unwrap_or(DEFAULT_CASES);
    eprintln!(
        "isolation property: seed {seed}, {cases} cases (JINGXI_PROPTEST_SEED / JINGXI_PROPTEST_CASES)"
    );
    let started = Instant::now();
    // The time limit of a hook call includes the queries it makes; the spy's queries are the
    // point here, so the limit is generous.
    let server = TestServer::configured(|config| config.plugins.hook_timeout_ms = 5_000).await;
    server
        .kernel
        .install_plugin(fixture_wasm("spy"))
        .await
        .expect("spy installs");
    let world = build(&server, seed).await;
    let built = started.elapsed();
    eprintln!(
        "world: {} tenants, {} users, {} customers, {} regions, {} complaints, built in {built:?}",
        world.tenants.len(),
        world.people.len(),
        world.customers.len(),
        world.regions.len(),
        world.complaints.len()
    );
    let ctx = Arc::new(Ctx {
        server,
        world,
        tally: Tally::default(),
    });
    sanity(&ctx).await;

    let handle = tokio::runtime::Handle::current();
    let runner_ctx = ctx.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let config = RunnerConfig {
            cases,
            max_shrink_iters: 256,
            failure_persistence: None,
            ..RunnerConfig::default()
        };
        let mut runner = TestRunner::new_with_rng(config, rng(seed, 1));
        let strategy = case(&runner_ctx.world);
        let outcome = runner.run(&strategy, |case| {
            handle
                .block_on(runner_ctx.check(&case))
                .map_err(TestCaseError::fail)
        });
        match outcome {
            Ok(()) => None,
            Err(TestError::Fail(reason, case)) => Some(format!(
                "isolation property failed (seed {seed}); minimal case {case:#?}\n{reason}"
            )),
            Err(TestError::Abort(reason)) => Some(format!(
                "isolation property aborted (seed {seed}): {reason}"
            )),
        }
    })
    .await
    .expect("the property runs");
    if let Some(failure) = outcome {
        panic!("{failure}");
    }
    let tally = &ctx.tally;
    let (runs, rows, hidden, refused) = (
        tally.cases.load(Ordering::Relaxed),
        tally.rows.load(Ordering::Relaxed),
        tally.hidden.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
    );
    eprintln!(
        "{runs} checks: {rows} rows returned and checked, {hidden} answers for callers from whom \
         rows were hidden, {refused} refusals; total {:?}",
        started.elapsed()
    );
    assert!(
        rows > 0,
        "no query returned a row: the property is vacuous (too few JINGXI_PROPTEST_CASES?)"
    );
    assert!(
        hidden > 0,
        "no caller had rows hidden: the property is vacuous (too few JINGXI_PROPTEST_CASES?)"
    );
}
