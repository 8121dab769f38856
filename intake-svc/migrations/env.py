from intake.models import Base
from intake.settings import Settings

from services import migrations

migrations.run(Base.metadata, Settings().database_url)
